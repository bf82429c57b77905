-- +up
-- The chat page (latest live messages of a room older than a cursor) must
-- walk chat_messages_room_seq_idx newest first and stop after the page,
-- whatever the statistics say. As a plain prepared statement it did not:
-- with no statistics yet (a fresh database, or a room that grew since the
-- last ANALYZE) the planner guessed 3 rows for the room and chose a bitmap
-- scan of ALL the room's messages plus a sort, 100-140 ms per page at
-- 160,000 messages (measured in the bench: GET /rooms/{id}/messages fell
-- from ~2,700 to ~50 pages/s with answers timing out, one backend at 100 %).
-- Here the plan can only be that ordered index scan (the settings below hold
-- only while the function runs), and the cursor is part of the index
-- condition, so a page deep in the history does not read the newer rows.
-- Columns as the rooms daemon reads them (chat_store.c).
CREATE FUNCTION cx_chat_page(p_room uuid, p_before bigint, p_limit int)
RETURNS TABLE (o_id text, o_room_id text, o_sender_identity text, o_sender_name text,
               o_sender_role text, o_created_at timestamptz, o_edited_at timestamptz,
               o_reply_to text, o_text text)
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
BEGIN
    RETURN QUERY
    SELECT m.id::text, m.room_id::text, m.sender_identity, m.sender_name, m.sender_role,
           m.created_at, m.edited_at, COALESCE(m.reply_to::text, ''), m.text
    FROM chat_messages m
    WHERE m.room_id = p_room AND m.deleted_at IS NULL
      AND m.seq < COALESCE(p_before, 9223372036854775807)
    ORDER BY m.seq DESC
    LIMIT p_limit;
END
$$;

-- +down
DROP FUNCTION cx_chat_page(uuid, bigint, int);

/* cx_join: the answer to an allowed join, minted the same way by media
 * (open rooms) and rooms (gated rooms, admitted waiting entries). */
#ifndef CX_JOIN_H
#define CX_JOIN_H

#include <stdint.h>

#include "calixio/v1/media.pb-c.h"
#include "cx_auth.h"
#include "cx_status.h"

/* The keys and settings a join answer is minted with. Borrowed. */
typedef struct cx_join_keys {
    const cx_auth_cfg *auth; /* signs the Calixio room token */
    const char *lk_api_key, *lk_api_secret;
    const char *lk_public_url; /* JoinReply.url */
    int64_t token_ttl_s;       /* both tokens, and JoinReply.expires_in */
} cx_join_keys;

/* The room a join answer is for. Borrowed. */
typedef struct cx_join_room {
    const char *id, *name, *livekit_room;
} cx_join_room;

/* Mints the LiveKit token (roomJoin, canPublish, canSubscribe,
 * canPublishData for that room only, plus roomAdmin for role "host") and
 * the Calixio room token (identity, name, role, user_id; NULL user_id is a
 * guest's "") and fills a JoinReply in state "conference". On CX_OK *out is
 * a malloced message whose every field is malloced: the caller frees it
 * with protobuf_c_message_free_unpacked. *out is written only on success;
 * all inputs are borrowed. */
cx_status cx_join_mint(const cx_join_keys *k, const cx_join_room *r, const char *identity,
                       const char *name, const char *role, const char *user_id,
                       Calixio__V1__JoinReply **out);

#endif

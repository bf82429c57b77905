/* cx_text: rules for text that people see (user names, room names, guest
 * names, later chat messages), shared by every service so that one name is
 * judged the same everywhere.
 *
 * A text is trimmed of surrounding whitespace (ASCII and Unicode spaces,
 * the BOM), must be valid UTF-8, not empty after the trim, between min_chars
 * and max_chars code points long, and free of
 *   - control characters: C0 (U+0000..U+001F), DEL, C1 (U+0080..U+009F) and
 *     the line/paragraph separators U+2028/U+2029; with CX_TEXT_MULTILINE a
 *     line feed (U+000A) is allowed inside the text (chat);
 *   - bidirectional formatting characters: embeddings and overrides
 *     (U+202A..U+202E), isolates (U+2066..U+2069) and the invisible marks
 *     U+200E, U+200F and U+061C, which let one name render as another. */
#ifndef CX_TEXT_H
#define CX_TEXT_H

#include <stddef.h>

enum {
    CX_TEXT_NAME = 0,          /* one line: no control character at all */
    CX_TEXT_MULTILINE = 1 << 0 /* line feeds allowed inside (chat text) */
};

/* The outcome of cx_text_check; cx_text_rule_name gives the rule string of
 * the validation error ("fields": {"<field>": "<rule>"}). */
typedef enum cx_text_rule {
    CX_TEXT_OK = 0,
    CX_TEXT_REQUIRED, /* "required": NULL, or empty after the trim */
    CX_TEXT_UTF8,     /* "utf8": not valid UTF-8 */
    CX_TEXT_MIN,      /* "min": fewer than min_chars code points */
    CX_TEXT_MAX,      /* "max": more than max_chars code points */
    CX_TEXT_CONTROL,  /* "control": a control character */
    CX_TEXT_BIDI      /* "bidi": a bidirectional formatting character */
} cx_text_rule;

/* Checks in (NUL-terminated) against the rules above. On CX_TEXT_OK,
 * *start and *len (when not NULL) describe the trimmed text inside in
 * (borrowed: a view, not a copy). Lengths count code points of the trimmed
 * text; max_chars 0 means no upper limit. An empty text is always
 * CX_TEXT_REQUIRED, whatever min_chars. */
cx_text_rule cx_text_check(const char *in, unsigned flags, size_t min_chars, size_t max_chars,
                           const char **start, size_t *len);

/* Like cx_text_check, and on CX_TEXT_OK copies the trimmed text into out
 * (cap bytes, NUL-terminated). A trimmed text that does not fit is
 * CX_TEXT_MAX. */
cx_text_rule cx_text_clean(const char *in, unsigned flags, size_t min_chars, size_t max_chars,
                           char *out, size_t cap);

/* "required", "utf8", "min", "max", "control", "bidi"; "" for CX_TEXT_OK.
 * Static. */
const char *cx_text_rule_name(cx_text_rule r);

#endif

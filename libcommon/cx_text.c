/* cx_text.c: trimming and checking of user-visible text (see cx_text.h). */
#include "cx_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Decodes the code point at p (at most n bytes). Returns its length in
 * bytes, or 0 when the bytes there are not valid UTF-8 (overlong forms,
 * surrogates, values above U+10FFFF, truncated sequences). */
static size_t _decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t extra;
    uint32_t v;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        extra = 1;
        v = p[0] & 0x1Fu;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        extra = 2;
        v = p[0] & 0x0Fu;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        extra = 3;
        v = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (n <= extra)
        return 0;
    for (size_t k = 1; k <= extra; k++) {
        if ((p[k] & 0xC0u) != 0x80u)
            return 0;
        v = (v << 6) | (p[k] & 0x3Fu);
    }
    if ((extra == 2 && v < 0x800) || (extra == 3 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return extra + 1;
}

/* Whitespace trimmed at both ends (never refused inside, except the
 * control characters among it). */
static bool _is_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

/* The refused code points: one row per range. */
typedef struct _range {
    uint32_t lo, hi;
    cx_text_rule rule;
} _range;

static const _range _refused[] = {
    {0x0000, 0x001F, CX_TEXT_CONTROL}, /* C0 (line feed: see CX_TEXT_MULTILINE) */
    {0x007F, 0x009F, CX_TEXT_CONTROL}, /* DEL and C1 */
    {0x2028, 0x2029, CX_TEXT_CONTROL}, /* line and paragraph separators */
    {0x061C, 0x061C, CX_TEXT_BIDI},    /* arabic letter mark */
    {0x200E, 0x200F, CX_TEXT_BIDI},    /* LRM, RLM */
    {0x202A, 0x202E, CX_TEXT_BIDI},    /* LRE, RLE, PDF, LRO, RLO */
    {0x2066, 0x2069, CX_TEXT_BIDI},    /* LRI, RLI, FSI, PDI */
};

static cx_text_rule _judge(uint32_t c, unsigned flags)
{
    if (c == '\n' && (flags & CX_TEXT_MULTILINE))
        return CX_TEXT_OK;
    for (size_t i = 0; i < sizeof _refused / sizeof _refused[0]; i++)
        if (c >= _refused[i].lo && c <= _refused[i].hi)
            return _refused[i].rule;
    return CX_TEXT_OK;
}

cx_text_rule cx_text_check(const char *in, unsigned flags, size_t min_chars, size_t max_chars,
                           const char **start, size_t *len)
{
    if (!in)
        return CX_TEXT_REQUIRED;
    const unsigned char *p = (const unsigned char *)in;
    size_t n = strlen(in), i = 0, chars;
    size_t b = SIZE_MAX, e = 0; /* byte range of the trimmed text */
    cx_text_rule worst = CX_TEXT_OK;

    /* First pass: decode everything (invalid UTF-8 anywhere is refused)
     * and find the first and last non-space; second pass: judge and count
     * the code points between them. */
    while (i < n) {
        uint32_t c;
        size_t k = _decode(p + i, n - i, &c);
        if (k == 0)
            return CX_TEXT_UTF8;
        if (!_is_space(c)) {
            if (b == SIZE_MAX)
                b = i;
            e = i + k;
        }
        i += k;
    }
    if (b == SIZE_MAX)
        return CX_TEXT_REQUIRED;
    chars = 0;
    for (i = b; i < e;) {
        uint32_t c;
        size_t k = _decode(p + i, e - i, &c);
        cx_text_rule r = _judge(c, flags);
        if (r != CX_TEXT_OK && worst == CX_TEXT_OK)
            worst = r;
        chars++;
        i += k;
    }
    if (worst != CX_TEXT_OK)
        return worst;
    if (chars < min_chars)
        return CX_TEXT_MIN;
    if (max_chars && chars > max_chars)
        return CX_TEXT_MAX;
    if (start)
        *start = in + b;
    if (len)
        *len = e - b;
    return CX_TEXT_OK;
}

cx_text_rule cx_text_clean(const char *in, unsigned flags, size_t min_chars, size_t max_chars,
                           char *out, size_t cap)
{
    const char *s = NULL;
    size_t n = 0;
    cx_text_rule r = cx_text_check(in, flags, min_chars, max_chars, &s, &n);
    if (r != CX_TEXT_OK)
        return r;
    if (n >= cap)
        return CX_TEXT_MAX;
    memcpy(out, s, n);
    out[n] = '\0';
    return CX_TEXT_OK;
}

const char *cx_text_rule_name(cx_text_rule r)
{
    static const char *const names[] = {
        [CX_TEXT_OK] = "",       [CX_TEXT_REQUIRED] = "required", [CX_TEXT_UTF8] = "utf8",
        [CX_TEXT_MIN] = "min",   [CX_TEXT_MAX] = "max",           [CX_TEXT_CONTROL] = "control",
        [CX_TEXT_BIDI] = "bidi",
    };
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "";
}

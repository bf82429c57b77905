/* test_text: cx_text_check / cx_text_clean (issue 19 item 15): trimming,
 * empty names, control and bidirectional formatting characters, lengths,
 * the multi-line flag and the rule names of the validation error. */
#include <string.h>

#include "cx_test.h"
#include "cx_text.h"

/* The rule of in as a one-line name of 1..8 code points. */
static const char *_rule(const char *in)
{
    return cx_text_rule_name(cx_text_check(in, CX_TEXT_NAME, 1, 8, NULL, NULL));
}

static void test_trim(void)
{
    char out[64];
    CX_CHECK_INT(cx_text_clean("  Ann  ", CX_TEXT_NAME, 1, 8, out, sizeof out), CX_TEXT_OK);
    CX_CHECK_STR(out, "Ann");
    /* tabs, line breaks, no-break and ideographic spaces, BOM at the ends */
    CX_CHECK_INT(
        cx_text_clean("\t\r\n\xC2\xA0\xE3\x80\x80\xEF\xBB\xBFZo\xC3\xAB Q\xE2\x80\x83\n",
                      CX_TEXT_NAME, 1, 8, out, sizeof out),
        CX_TEXT_OK);
    CX_CHECK_STR(out, "Zo\xC3\xAB Q");
    /* an inner space stays */
    CX_CHECK_INT(cx_text_clean("a  b", CX_TEXT_NAME, 1, 8, out, sizeof out), CX_TEXT_OK);
    CX_CHECK_STR(out, "a  b");
    const char *s = NULL;
    size_t n = 0;
    const char *in = "  x y ";
    CX_CHECK_INT(cx_text_check(in, CX_TEXT_NAME, 1, 8, &s, &n), CX_TEXT_OK);
    CX_CHECK(s == in + 2);
    CX_CHECK_INT(n, 3);
}

static void test_required(void)
{
    CX_CHECK_STR(_rule(NULL), "required");
    CX_CHECK_STR(_rule(""), "required");
    CX_CHECK_STR(_rule("   "), "required");
    CX_CHECK_STR(_rule("\t\n \xC2\xA0\xE2\x80\x80\xE3\x80\x80"), "required");
    /* empty is "required" even when no minimum is asked for */
    CX_CHECK_INT(cx_text_check(" ", CX_TEXT_NAME, 0, 0, NULL, NULL), CX_TEXT_REQUIRED);
}

static void test_control(void)
{
    CX_CHECK_STR(_rule("a\x01"
                       "b"),
                 "control");
    CX_CHECK_STR(_rule("a\tb"), "control");
    CX_CHECK_STR(_rule("a\nb"), "control");
    CX_CHECK_STR(_rule("a\rb"), "control");
    CX_CHECK_STR(_rule("a\x7f"
                       "b"),
                 "control");
    CX_CHECK_STR(_rule("a\xC2\x85"
                       "b"),
                 "control"); /* NEL, C1 */
    CX_CHECK_STR(_rule("a\xC2\x9F"
                       "b"),
                 "control"); /* C1 */
    CX_CHECK_STR(_rule("a\xE2\x80\xA8"
                       "b"),
                 "control"); /* U+2028 */
    CX_CHECK_STR(_rule("a\xE2\x80\xA9"
                       "b"),
                 "control"); /* U+2029 */
}

static void test_bidi(void)
{
    /* every embedding, override and isolate, and the invisible marks */
    static const char *const bidi[] = {
        "\xE2\x80\xAA", "\xE2\x80\xAB", "\xE2\x80\xAC", "\xE2\x80\xAD",
        "\xE2\x80\xAE", "\xE2\x81\xA6", "\xE2\x81\xA7", "\xE2\x81\xA8",
        "\xE2\x81\xA9", "\xE2\x80\x8E", "\xE2\x80\x8F", "\xD8\x9C",
    };
    for (size_t i = 0; i < sizeof bidi / sizeof bidi[0]; i++) {
        char buf[32];
        strcpy(buf, "ab");
        strcat(buf, bidi[i]);
        strcat(buf, "cd");
        CX_CHECK_STR(_rule(buf), "bidi");
        /* also at the very start and end: they are not whitespace */
        strcpy(buf, bidi[i]);
        strcat(buf, "ab");
        CX_CHECK_STR(_rule(buf), "bidi");
    }
    /* "admin" spelled backwards behind U+202E */
    CX_CHECK_STR(_rule("\xE2\x80\xAEnimda"), "bidi");
    /* neighbours that are fine: U+202F (narrow no-break space) inside,
     * U+2065, U+206A, ZWJ in an emoji sequence, Hebrew and Arabic letters */
    CX_CHECK_STR(_rule("a\xE2\x80\xAF"
                       "b"),
                 "");
    CX_CHECK_STR(_rule("a\xE2\x81\xA5"
                       "b"),
                 "");
    CX_CHECK_STR(_rule("a\xE2\x81\xAA"
                       "b"),
                 "");
    CX_CHECK_STR(_rule("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9"), "");
    CX_CHECK_STR(_rule("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D"), "");
    CX_CHECK_STR(_rule("\xD8\xB3\xD9\x84\xD8\xA7\xD9\x85"), "");
}

static void test_utf8_and_lengths(void)
{
    CX_CHECK_STR(_rule("a\xC3"), "utf8");
    CX_CHECK_STR(_rule("\xC0\xAF"), "utf8");         /* overlong */
    CX_CHECK_STR(_rule("\xED\xA0\x80"), "utf8");     /* surrogate */
    CX_CHECK_STR(_rule("\xF4\x90\x80\x80"), "utf8"); /* above U+10FFFF */
    CX_CHECK_STR(_rule("  \xFF"), "utf8");           /* even where it would be trimmed */
    CX_CHECK_STR(_rule("12345678"), "");
    CX_CHECK_STR(_rule("123456789"), "max");
    CX_CHECK_STR(_rule("  12345678  "), ""); /* counted after the trim */
    CX_CHECK_STR(
        _rule("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xF0\x9F\x98\x80"),
        ""); /* 8 code points, 18 bytes */
    CX_CHECK_INT(cx_text_check(" a ", CX_TEXT_NAME, 2, 8, NULL, NULL), CX_TEXT_MIN);
    CX_CHECK_INT(cx_text_check("ab", CX_TEXT_NAME, 2, 8, NULL, NULL), CX_TEXT_OK);
    CX_CHECK_INT(cx_text_check("a very long text", CX_TEXT_NAME, 0, 0, NULL, NULL), CX_TEXT_OK);
    char small[4];
    CX_CHECK_INT(cx_text_clean("abcd", CX_TEXT_NAME, 1, 8, small, sizeof small), CX_TEXT_MAX);
    CX_CHECK_INT(cx_text_clean(" abc ", CX_TEXT_NAME, 1, 8, small, sizeof small), CX_TEXT_OK);
    CX_CHECK_STR(small, "abc");
}

static void test_multiline(void)
{
    char out[64];
    CX_CHECK_INT(cx_text_clean("\n line one\nline two \n", CX_TEXT_MULTILINE, 1, 0, out,
                               sizeof out),
                 CX_TEXT_OK);
    CX_CHECK_STR(out, "line one\nline two");
    CX_CHECK_INT(cx_text_check("a\rb", CX_TEXT_MULTILINE, 1, 0, NULL, NULL), CX_TEXT_CONTROL);
    CX_CHECK_INT(cx_text_check("a\x1b[31mb", CX_TEXT_MULTILINE, 1, 0, NULL, NULL),
                 CX_TEXT_CONTROL);
    CX_CHECK_INT(cx_text_check("a\n\xE2\x80\xAE"
                               "b",
                               CX_TEXT_MULTILINE, 1, 0, NULL, NULL),
                 CX_TEXT_BIDI);
    CX_CHECK_INT(cx_text_check("\n\n", CX_TEXT_MULTILINE, 1, 0, NULL, NULL), CX_TEXT_REQUIRED);
}

static void test_rule_names(void)
{
    CX_CHECK_STR(cx_text_rule_name(CX_TEXT_OK), "");
    CX_CHECK_STR(cx_text_rule_name(CX_TEXT_REQUIRED), "required");
    CX_CHECK_STR(cx_text_rule_name(CX_TEXT_UTF8), "utf8");
    CX_CHECK_STR(cx_text_rule_name(CX_TEXT_MIN), "min");
    CX_CHECK_STR(cx_text_rule_name(CX_TEXT_MAX), "max");
    CX_CHECK_STR(cx_text_rule_name(CX_TEXT_CONTROL), "control");
    CX_CHECK_STR(cx_text_rule_name(CX_TEXT_BIDI), "bidi");
    CX_CHECK_STR(cx_text_rule_name((cx_text_rule)99), "");
}

int main(void)
{
    CX_RUN(test_trim);
    CX_RUN(test_required);
    CX_RUN(test_control);
    CX_RUN(test_bidi);
    CX_RUN(test_utf8_and_lengths);
    CX_RUN(test_multiline);
    CX_RUN(test_rule_names);
    return CX_DONE();
}

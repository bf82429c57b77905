/* code.c: meeting codes. Ten random lowercase letters (26^10 ~ 1.4e14, ~47
 * bits), uniform through libsodium's randombytes_uniform, shown as
 * abc-defg-hij; stored without dashes. Not derived from the room id. */
#include <sodium.h>
#include <string.h>

#include "rooms.h"

void rooms_code_random(char out[ROOMS_CODE_LEN + 1])
{
    for (int i = 0; i < ROOMS_CODE_LEN; i++)
        out[i] = (char)('a' + randombytes_uniform(26));
    out[ROOMS_CODE_LEN] = '\0';
}

bool rooms_code_norm(const char *in, char out[ROOMS_CODE_LEN + 1])
{
    size_t k = 0;
    if (!in || strlen(in) > 2 * ROOMS_CODE_LEN)
        return false;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '-')
            continue;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c < 'a' || c > 'z' || k == ROOMS_CODE_LEN)
            return false;
        out[k++] = c;
    }
    out[k] = '\0';
    return k == ROOMS_CODE_LEN;
}

void rooms_code_show(const char *code, char out[ROOMS_CODE_LEN + 3])
{
    if (strlen(code) != ROOMS_CODE_LEN) {
        out[0] = '\0';
        return;
    }
    memcpy(out, code, 3);
    out[3] = '-';
    memcpy(out + 4, code + 3, 4);
    out[8] = '-';
    memcpy(out + 9, code + 7, 3);
    out[12] = '\0';
}

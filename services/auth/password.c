/* Password hashing: Argon2id through libsodium's crypto_pwhash_str (see
 * auth.h). The hash string carries its own salt and parameters, so a change
 * of PASSWORD_OPSLIMIT / PASSWORD_MEMLIMIT is detected per stored hash. */
#include <string.h>

#include "auth.h"

cx_status auth_password_hash(const auth_pwparams *p, const char *pw, size_t len,
                             char out[AUTH_HASH_MAX])
{
    if (crypto_pwhash_str_alg(out, pw, len, p->opslimit, p->memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return CX_ERR_NOMEM; /* the only failure libsodium reports here */
    return CX_OK;
}

/* Copies a stored hash into a crypto_pwhash_STRBYTES buffer, as libsodium
 * expects; false when it cannot be a libsodium string. */
static bool _copy_hash(const char *hash, char buf[AUTH_HASH_MAX])
{
    size_t n = hash ? strlen(hash) : 0;
    if (n == 0 || n >= AUTH_HASH_MAX)
        return false;
    memset(buf, 0, AUTH_HASH_MAX);
    memcpy(buf, hash, n);
    return true;
}

bool auth_password_verify(const char *hash, const char *pw, size_t len)
{
    char buf[AUTH_HASH_MAX];
    if (!_copy_hash(hash, buf))
        return false;
    return crypto_pwhash_str_verify(buf, pw, len) == 0;
}

bool auth_password_needs_rehash(const auth_pwparams *p, const char *hash)
{
    char buf[AUTH_HASH_MAX];
    if (!_copy_hash(hash, buf))
        return false; /* nothing verified against it anyway */
    return crypto_pwhash_str_needs_rehash(buf, p->opslimit, p->memlimit) != 0;
}

/* Input rules of the account routes (see account.h). Pure: no I/O. The
 * allowed values of every enumerated field are the tables below. */
#include <string.h>
#include <strings.h>

#include "account.h"

const char *const acct_backgrounds[] = {"none", "blur", "image", NULL};
const char *const acct_noise_levels[] = {"off", "low", "medium", "high", NULL};
const char *const acct_video_qualities[] = {"auto", "1080p", "720p", "480p", "360p", NULL};
const char *const acct_themes[] = {"system", "light", "dark", NULL};
const char *const acct_languages[] = {"en", "ru", NULL};

cx_status acct_validate_url(cx_req *req, const char *field, const char *url, bool allow_empty)
{
    if (!url || (allow_empty && !*url))
        return CX_OK;
    size_t n = strlen(url);
    if (n > ACCT_URL_MAX)
        return cx_req_field_error(req, field, "max");
    if (n <= 8 || strncasecmp(url, "https://", 8) != 0)
        return cx_req_field_error(req, field, "https");
    /* the host: up to the first '/', '?' or '#', without userinfo tricks */
    const char *host = url + 8;
    size_t hn = strcspn(host, "/?#");
    if (hn == 0 || memchr(host, '@', hn) || host[0] == ':' || host[0] == '.')
        return cx_req_field_error(req, field, "https");
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7F || *p == '\\')
            return cx_req_field_error(req, field, "https");
    return CX_OK;
}

cx_status acct_validate_oneof(cx_req *req, const char *field, const char *v,
                              const char *const *allowed)
{
    if (!v)
        return CX_OK;
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(*a, v) == 0)
            return CX_OK;
    return cx_req_field_error(req, field, "oneof");
}

cx_status acct_validate_bytes(cx_req *req, const char *field, const char *v, size_t max)
{
    if (v && strlen(v) > max)
        return cx_req_field_error(req, field, "max");
    return CX_OK;
}

cx_status acct_validate_profile_name(cx_req *req, const char *field, const char *v)
{
    size_t chars = 0;
    if (!v || strspn(v, " \t\r\n\v\f") == strlen(v))
        return cx_req_field_error(req, field, "required");
    if (!auth_utf8_count(v, strlen(v), &chars))
        return cx_req_field_error(req, field, "utf8");
    if (chars > ACCT_PROFILE_NAME_MAX)
        return cx_req_field_error(req, field, "max");
    return CX_OK;
}

/* test_natsconn: URL redaction (no credential may reach a log), nkey seed
 * -> public key, and option building refusing conflicting credentials. */
#include <sodium.h>

#include "cx_natsconn.h"
#include "cx_test.h"

static void test_redact(void)
{
    char b[256];
    cx_natsconn_redact("nats://alice:s3cr3t@127.0.0.1:4222", b, sizeof b);
    CX_CHECK_STR(b, "nats://***@127.0.0.1:4222");
    cx_natsconn_redact("nats://tok3n@h1:4222, tls://u:p@ss@h2:4223,nats://h3:4222", b,
                       sizeof b);
    CX_CHECK_STR(b, "nats://***@h1:4222, tls://***@h2:4223,nats://h3:4222");
    cx_natsconn_redact("u:pw@h:1", b, sizeof b);
    CX_CHECK_STR(b, "***@h:1");
    cx_natsconn_redact("nats://h:1/path@x", b, sizeof b);
    CX_CHECK_STR(b, "nats://h:1/path@x");
    cx_natsconn_redact(NULL, b, sizeof b);
    CX_CHECK_STR(b, "");
    char small[12];
    cx_natsconn_redact("nats://user:password@host:4222", small, sizeof small);
    CX_CHECK(strlen(small) < sizeof small);
    CX_CHECK(strstr(small, "password") == NULL && strstr(small, "user") == NULL);
}

static void test_nkey_public(void)
{
    /* pair made by @nats-io/nkeys createUser() */
    char pub[64];
    CX_CHECK_INT(
        cx_natsconn_nkey_public("SUAJHJ56GHQCT6QLCUX4BXUHQC6LIE6YW34XAUQHOKTQXRZF57APDCHAIY",
                                pub, sizeof pub),
        CX_OK);
    CX_CHECK_STR(pub, "UCVVI476T5ZUUII6SZLFSL4PBGJBQP6YIFUWLDRVVRMLCDLCT5OXCZKD");
    /* one flipped character: the checksum refuses it */
    CX_CHECK_INT(
        cx_natsconn_nkey_public("SUAJHJ56GHQCT6QLCUX4BXUHQC6LIE6YW34XAUQHOKTQXRZF57APDCHBIY",
                                pub, sizeof pub),
        CX_ERR_CONFIG);
    CX_CHECK_INT(cx_natsconn_nkey_public("not a seed", pub, sizeof pub), CX_ERR_CONFIG);
}

static void test_options(void)
{
    natsOptions *o = NULL;
    cx_natsconn_cfg c = {.url = "nats://127.0.0.1:4222", .user = "auth", .password = "pw"};
    CX_CHECK_INT(cx_natsconn_options(&o, &c, "calixio-auth"), CX_OK);
    natsOptions_Destroy(o);
    o = NULL;
    cx_natsconn_cfg both = {.url = "nats://127.0.0.1:4222",
                            .user = "auth",
                            .creds = "/x.creds"};
    CX_CHECK_INT(cx_natsconn_options(&o, &both, "calixio-auth"), CX_ERR_CONFIG);
    CX_CHECK(o == NULL);
    cx_natsconn_cfg nopw = {.url = "nats://h:1", .password = "pw"};
    CX_CHECK_INT(cx_natsconn_options(&o, &nopw, "x"), CX_ERR_CONFIG);
    cx_natsconn_cfg empty = {.url = " , "};
    CX_CHECK_INT(cx_natsconn_options(&o, &empty, "x"), CX_ERR_CONFIG);
    char b[64];
    CX_CHECK_STR(cx_natsconn_inbox_prefix("calixio-gateway", b, sizeof b),
                 "_INBOX.calixio-gateway");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    CX_RUN(test_redact);
    CX_RUN(test_nkey_public);
    CX_RUN(test_options);
    return CX_DONE();
}

/* cx_redis_slot: Redis Cluster key slots, and the routing facts of a
 * command (which argument is its key). Pure functions, no I/O. */
#ifndef CX_REDIS_SLOT_H
#define CX_REDIS_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CX_REDIS_SLOTS 16384

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), the checksum Redis
 * Cluster keys slots by. crc16("123456789") = 0x31C3. */
uint16_t cx_redis_crc16(const char *buf, size_t len);

/* The slot (0..16383) of key[0..len): CRC16 of its hash tag, the bytes
 * between the first '{' and the first '}' after it when that is not empty,
 * else of the whole key. */
int cx_redis_key_slot(const char *key, size_t len);

/* Finds argument i of a RESP-encoded command (as hiredis formats one:
 * "*N\r\n" then "$L\r\n<L bytes>\r\n" per argument) in cmd[0..len): *arg
 * points into cmd, *n is its length. False when i is out of range or cmd is
 * malformed. */
bool cx_redis_resp_arg(const char *cmd, size_t len, int i, const char **arg, size_t *n);

/* The key a RESP-encoded command is routed by: argument 1 for ordinary
 * commands, the first key of EVAL/EVALSHA (none when numkeys is 0), none
 * for commands without keys (PING, SCAN, SCRIPT, CLUSTER, CLIENT, INFO,
 * ...). False when it has none. */
bool cx_redis_route_key(const char *cmd, size_t len, const char **key, size_t *n);

#endif

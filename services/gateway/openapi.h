/* openapi: the OpenAPI 3.0 document of the gateway, generated from the
 * route table and the protobuf descriptors (so it cannot drift from what
 * the gateway actually routes and decodes). */
#ifndef GW_OPENAPI_H
#define GW_OPENAPI_H

#include <stddef.h>

/* Builds the document; returns malloced compact JSON text (caller frees)
 * and its length in *len, or NULL on OOM. */
char *gw_openapi_build(size_t *len);

#endif

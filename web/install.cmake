# Writes the served web app: web/public/ plus livekit-client from
# web/node_modules (installed by ./calixio deps) as a versioned file under
# vendor/ (cached as immutable) and js/livekit.js, the unversioned module
# the app imports, which re-exports it.
#   cmake -DSRC=<repo>/web -DDST=<build>/web -P install.cmake
file(REMOVE_RECURSE "${DST}")
file(COPY "${SRC}/public/" DESTINATION "${DST}")
set(lk "${SRC}/node_modules/livekit-client")
if(EXISTS "${lk}/package.json" AND EXISTS "${lk}/dist/livekit-client.esm.mjs")
  file(READ "${lk}/package.json" pkg)
  string(JSON ver GET "${pkg}" version)
  file(COPY "${lk}/dist/livekit-client.esm.mjs" DESTINATION "${DST}/vendor")
  file(RENAME "${DST}/vendor/livekit-client.esm.mjs" "${DST}/vendor/livekit-client-${ver}.mjs")
  set(shim "export * from '/vendor/livekit-client-${ver}.mjs';\n")
else()
  message(WARNING "livekit-client is not installed in web/node_modules (run ./calixio deps): the room page will say media is unavailable")
  set(shim "throw new Error('livekit-client is not installed (./calixio deps)');\n")
endif()
file(CONFIGURE OUTPUT "${DST}/js/livekit.js" CONTENT "${shim}" @ONLY)

# Precompressed twins of the text assets: the gateway sends <file>.gz to
# clients that accept gzip (same content, a fraction of the bytes).
find_program(GZIP_EXE gzip)
if(GZIP_EXE)
  file(GLOB_RECURSE texts "${DST}/*.html" "${DST}/*.js" "${DST}/*.mjs" "${DST}/*.css" "${DST}/*.svg" "${DST}/*.json")
  foreach(f ${texts})
    file(SIZE "${f}" n)
    if(n LESS 1024) # too small to gain anything
      continue()
    endif()
    execute_process(COMMAND "${GZIP_EXE}" -9 -n -k -f "${f}" RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(WARNING "gzip ${f} failed: served uncompressed")
    endif()
  endforeach()
else()
  message(STATUS "gzip not found: the web app is served uncompressed")
endif()

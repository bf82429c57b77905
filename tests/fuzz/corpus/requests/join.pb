
zzzBob
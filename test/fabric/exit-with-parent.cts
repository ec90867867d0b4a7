/**
 * Preloaded (`node --require`) into the chaincode child process: ends it when
 * the test peer that spawned it is gone (its IPC channel closes), so a test
 * process killed by a timeout leaves no chaincode server behind.
 */
process.on('disconnect', () => process.exit(0));

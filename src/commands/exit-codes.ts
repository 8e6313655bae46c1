/**
 * Exit codes of the client commands (`watch`, `run`, `token`): by the run's final status, 3 when
 * it could not be followed, 64 for a usage error (EX_USAGE of sysexits.h, so that a typo is never
 * read as "cancelled"), 130 when interrupted by Ctrl-C (128 + SIGINT, as shells report it).
 * `serve` and `simulate` keep exit 2 for a bad flag (contract section 1).
 */
export const EXIT = { success: 0, failed: 1, cancelled: 2, error: 3, usage: 64, interrupted: 130 } as const;

/** The exit-code lines of the client commands' --help. */
export const EXIT_HELP = `Exit status: 0 success, 1 failed, 2 cancelled, 3 error (not found, unreachable…), 64 usage error,
130 interrupted (Ctrl-C; the run goes on).`;

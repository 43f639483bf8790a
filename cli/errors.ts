/** An error meant for the person at the terminal: printed as its message alone, with an exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

/** Exit codes: 1 for a failure while working, 2 for bad input (usage, invalid files). */
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;

/**
 * The shell catalogue: every program the shell tool can ever run, shipped with the product, each
 * with the only options and operands it may be given. Operators pick programs from it by name
 * (SHELL_ALLOWLIST); they cannot add a program or loosen a rule without changing this file.
 *
 * What earns a place: the program reads or reports and nothing else, and none of the options
 * listed makes it run another program, write a file, open a connection, or read a file named
 * anywhere but in an operand or value checked as a workspace path. What is left out on purpose:
 * `sort -o/-T/--compress-program/--random-source`, `tail -f`, `grep -R` (follows symlinks),
 * `ls -L`, `du -L/--files0-from`, `date -s/-f`, `free -s`, `uniq`'s output operand, `systemctl`
 * with anything but read-only verbs or with `-H` (ssh), `ps` (`ps e` prints environments and its
 * BSD options are not getopt), and every program that starts others (`env`, `nice`, `chrt`,
 * `find`, `xargs`, `tar`, `split`, shells, interpreters).
 *
 * Options are matched exactly as written here, long ones without abbreviation: `--compress-prog`
 * is refused even though GNU getopt would expand it.
 */

/** What a value or operand must be. */
export type ValueKind =
  /** A file or directory inside the workspace (checked, symlinks resolved, passed on resolved). */
  | 'path'
  /** An integer, optionally signed (`head -n -5`, `tail -n +5`). */
  | 'count'
  /** A decimal number (`seq 1 0.5 3`). */
  | 'number'
  /** `sleep`'s argument: a number with an optional s/m/h/d suffix. */
  | 'duration'
  /** Inert data the program only compares or prints: a pattern, a separator, a format. */
  | 'text'
  /** `date`'s output format, `+…`. */
  | 'date-format'
  /** A date for `date -d`, without a `TZ="…"` (a time zone file could be any path). */
  | 'date-string'
  /** A systemd unit name, no globs. */
  | 'unit'
  /** Exactly one of these words. */
  | { oneOf: readonly string[] };

export interface ProgramRules {
  /** One line for the refusal message: what the program is for. */
  summary: string;
  /**
   * `getopt`: GNU option parsing (options anywhere before `--`, short ones clustered). `none`:
   * the program treats no argument as an option or a file, so every argument is inert text.
   */
  parse: 'getopt' | 'none';
  /** Allowed options: `null` takes no value, a kind takes one (`-n 5`, `-n5`, `--lines=5`). */
  options: Readonly<Record<string, ValueKind | null>>;
  /** Operands that come first, in order (systemctl's verb, grep's pattern). */
  leading?: readonly ValueKind[];
  /** With any of these options given, there are no leading operands (`grep -e PATTERN`). */
  leadingUnless?: readonly string[];
  /** Every further operand; `null`: none allowed. */
  operands: ValueKind | null;
  minOperands?: number;
  maxOperands?: number;
}

const none = null;

/** `-h` and `--human-readable` style pairs are listed separately: both spellings are allowed. */
export const SHELL_CATALOGUE: Readonly<Record<string, ProgramRules>> = {
  cat: {
    summary: 'print files of the workspace',
    parse: 'getopt',
    options: {
      '-n': none,
      '-b': none,
      '-s': none,
      '-A': none,
      '-E': none,
      '-T': none,
      '-v': none,
      '--number': none,
      '--number-nonblank': none,
      '--squeeze-blank': none,
      '--show-all': none,
      '--show-ends': none,
      '--show-tabs': none,
      '--show-nonprinting': none,
    },
    operands: 'path',
    minOperands: 1,
  },
  cut: {
    summary: 'cut fields or characters out of workspace files',
    parse: 'getopt',
    options: {
      '-b': 'text',
      '-c': 'text',
      '-f': 'text',
      '-d': 'text',
      '-s': none,
      '--bytes': 'text',
      '--characters': 'text',
      '--fields': 'text',
      '--delimiter': 'text',
      '--only-delimited': none,
      '--complement': none,
      '--output-delimiter': 'text',
    },
    operands: 'path',
    minOperands: 1,
  },
  date: {
    summary: 'print the date and time',
    parse: 'getopt',
    options: {
      '-u': none,
      '-R': none,
      '-I': none,
      '-d': 'date-string',
      '-r': 'path',
      '--utc': none,
      '--universal': none,
      '--rfc-email': none,
      '--iso-8601': none,
      '--rfc-3339': { oneOf: ['date', 'seconds', 'ns'] },
      '--date': 'date-string',
      '--reference': 'path',
    },
    // Only `+FORMAT`: a bare operand would set the clock.
    operands: 'date-format',
    maxOperands: 1,
  },
  df: {
    summary: 'report file system disk space',
    parse: 'getopt',
    options: {
      '-a': none,
      '-h': none,
      '-H': none,
      '-i': none,
      '-k': none,
      '-l': none,
      '-P': none,
      '-T': none,
      '-t': 'text',
      '-x': 'text',
      '--all': none,
      '--human-readable': none,
      '--si': none,
      '--inodes': none,
      '--local': none,
      '--portability': none,
      '--print-type': none,
      '--total': none,
      '--type': 'text',
      '--exclude-type': 'text',
    },
    operands: 'path',
  },
  du: {
    summary: 'report disk usage of workspace files',
    parse: 'getopt',
    options: {
      '-a': none,
      '-b': none,
      '-c': none,
      '-h': none,
      '-k': none,
      '-m': none,
      '-s': none,
      '-x': none,
      '-d': 'count',
      '--all': none,
      '--apparent-size': none,
      '--bytes': none,
      '--total': none,
      '--human-readable': none,
      '--si': none,
      '--summarize': none,
      '--one-file-system': none,
      '--max-depth': 'count',
      '--exclude': 'text',
    },
    operands: 'path',
  },
  echo: {
    summary: 'print its arguments',
    parse: 'none',
    options: {},
    operands: 'text',
  },
  free: {
    summary: 'report memory use',
    parse: 'getopt',
    options: {
      '-b': none,
      '-k': none,
      '-m': none,
      '-g': none,
      '-h': none,
      '-l': none,
      '-t': none,
      '-w': none,
      '--bytes': none,
      '--kilo': none,
      '--mega': none,
      '--giga': none,
      '--kibi': none,
      '--mebi': none,
      '--gibi': none,
      '--human': none,
      '--si': none,
      '--lohi': none,
      '--total': none,
      '--wide': none,
    },
    operands: null,
  },
  grep: {
    summary: 'search workspace files for a pattern',
    parse: 'getopt',
    options: {
      '-i': none,
      '-v': none,
      '-c': none,
      '-n': none,
      '-l': none,
      '-L': none,
      '-w': none,
      '-x': none,
      '-F': none,
      '-E': none,
      '-G': none,
      '-o': none,
      '-s': none,
      '-q': none,
      '-h': none,
      '-H': none,
      '-a': none,
      '-I': none,
      // -r skips symbolic links it meets while recursing (-R would follow them out).
      '-r': none,
      '-m': 'count',
      '-A': 'count',
      '-B': 'count',
      '-C': 'count',
      '-e': 'text',
      '-f': 'path',
      '--ignore-case': none,
      '--invert-match': none,
      '--count': none,
      '--line-number': none,
      '--files-with-matches': none,
      '--files-without-match': none,
      '--word-regexp': none,
      '--line-regexp': none,
      '--fixed-strings': none,
      '--extended-regexp': none,
      '--basic-regexp': none,
      '--only-matching': none,
      '--no-messages': none,
      '--quiet': none,
      '--silent': none,
      '--no-filename': none,
      '--with-filename': none,
      '--text': none,
      '--recursive': none,
      '--max-count': 'count',
      '--after-context': 'count',
      '--before-context': 'count',
      '--context': 'count',
      '--regexp': 'text',
      '--file': 'path',
      '--include': 'text',
      '--exclude': 'text',
      '--exclude-dir': 'text',
    },
    leading: ['text'],
    leadingUnless: ['-e', '-f', '--regexp', '--file'],
    operands: 'path',
  },
  head: {
    summary: 'print the first lines of workspace files',
    parse: 'getopt',
    options: {
      '-n': 'count',
      '-c': 'count',
      '-q': none,
      '-v': none,
      '--lines': 'count',
      '--bytes': 'count',
      '--quiet': none,
      '--silent': none,
      '--verbose': none,
    },
    operands: 'path',
    minOperands: 1,
  },
  hostname: {
    summary: 'print the host name',
    parse: 'getopt',
    // -f/-d/-i would ask DNS; an operand would set the host name.
    options: { '-s': none, '--short': none },
    operands: null,
  },
  id: {
    summary: 'print the user and groups the sandbox runs as',
    parse: 'getopt',
    options: {
      '-u': none,
      '-g': none,
      '-G': none,
      '-n': none,
      '-r': none,
      '--user': none,
      '--group': none,
      '--groups': none,
      '--name': none,
      '--real': none,
    },
    operands: null,
  },
  ls: {
    summary: 'list workspace directories',
    parse: 'getopt',
    options: {
      '-1': none,
      '-a': none,
      '-A': none,
      '-d': none,
      '-F': none,
      '-g': none,
      '-h': none,
      '-i': none,
      '-l': none,
      '-n': none,
      '-o': none,
      '-p': none,
      '-r': none,
      // -R lists symbolic links as links; only -L (not allowed) would follow them.
      '-R': none,
      '-s': none,
      '-S': none,
      '-t': none,
      '-u': none,
      '-c': none,
      '-v': none,
      '-X': none,
      '--all': none,
      '--almost-all': none,
      '--directory': none,
      '--classify': none,
      '--human-readable': none,
      '--inode': none,
      '--numeric-uid-gid': none,
      '--reverse': none,
      '--recursive': none,
      '--size': none,
      '--full-time': none,
      '--group-directories-first': none,
      '--sort': { oneOf: ['none', 'size', 'time', 'version', 'extension'] },
    },
    operands: 'path',
  },
  nproc: {
    summary: 'print the number of processors',
    parse: 'getopt',
    options: { '--all': none },
    operands: null,
  },
  seq: {
    summary: 'print a sequence of numbers',
    parse: 'getopt',
    options: { '-w': none, '-s': 'text', '--equal-width': none, '--separator': 'text' },
    operands: 'number',
    minOperands: 1,
    maxOperands: 3,
  },
  sleep: {
    summary: 'wait',
    parse: 'getopt',
    options: {},
    operands: 'duration',
    minOperands: 1,
    maxOperands: 4,
  },
  sort: {
    summary: 'sort lines of workspace files',
    parse: 'getopt',
    options: {
      '-b': none,
      '-f': none,
      '-g': none,
      '-h': none,
      '-M': none,
      '-n': none,
      '-r': none,
      '-s': none,
      '-u': none,
      '-V': none,
      '-c': none,
      '-k': 'text',
      '-t': 'text',
      '--ignore-leading-blanks': none,
      '--ignore-case': none,
      '--general-numeric-sort': none,
      '--human-numeric-sort': none,
      '--month-sort': none,
      '--numeric-sort': none,
      '--reverse': none,
      '--stable': none,
      '--unique': none,
      '--version-sort': none,
      '--check': none,
      '--key': 'text',
      '--field-separator': 'text',
    },
    operands: 'path',
    minOperands: 1,
  },
  stat: {
    summary: 'show details of workspace files',
    parse: 'getopt',
    options: {
      '-c': 'text',
      '-f': none,
      '-t': none,
      '--format': 'text',
      '--file-system': none,
      '--terse': none,
    },
    operands: 'path',
    minOperands: 1,
  },
  systemctl: {
    summary: 'show the state of systemd units (read-only verbs)',
    parse: 'getopt',
    options: {
      '-a': none,
      '-l': none,
      '-n': 'count',
      '--all': none,
      '--full': none,
      '--lines': 'count',
      '--no-pager': none,
      '--no-legend': none,
      '--plain': none,
    },
    leading: [{ oneOf: ['status', 'is-active', 'is-failed', 'is-enabled', 'list-units', 'list-timers'] }],
    operands: 'unit',
    maxOperands: 16,
  },
  tail: {
    summary: 'print the last lines of workspace files',
    parse: 'getopt',
    options: {
      '-n': 'count',
      '-c': 'count',
      '-q': none,
      '-v': none,
      '--lines': 'count',
      '--bytes': 'count',
      '--quiet': none,
      '--silent': none,
      '--verbose': none,
    },
    operands: 'path',
    minOperands: 1,
  },
  uname: {
    summary: 'print system information',
    parse: 'getopt',
    options: {
      '-a': none,
      '-s': none,
      '-n': none,
      '-r': none,
      '-v': none,
      '-m': none,
      '-p': none,
      '-i': none,
      '-o': none,
      '--all': none,
      '--kernel-name': none,
      '--nodename': none,
      '--kernel-release': none,
      '--kernel-version': none,
      '--machine': none,
      '--processor': none,
      '--hardware-platform': none,
      '--operating-system': none,
    },
    operands: null,
  },
  uniq: {
    summary: 'report repeated lines of a workspace file',
    parse: 'getopt',
    options: {
      '-c': none,
      '-d': none,
      '-u': none,
      '-i': none,
      '-f': 'count',
      '-s': 'count',
      '-w': 'count',
      '--count': none,
      '--repeated': none,
      '--unique': none,
      '--ignore-case': none,
      '--skip-fields': 'count',
      '--skip-chars': 'count',
      '--check-chars': 'count',
    },
    // One input: a second operand is a file uniq writes.
    operands: 'path',
    minOperands: 1,
    maxOperands: 1,
  },
  uptime: {
    summary: 'how long the system has been running, and its load',
    parse: 'getopt',
    options: { '-p': none, '-s': none, '--pretty': none, '--since': none },
    operands: null,
  },
  wc: {
    summary: 'count lines, words and bytes of workspace files',
    parse: 'getopt',
    options: {
      '-c': none,
      '-l': none,
      '-L': none,
      '-m': none,
      '-w': none,
      '--bytes': none,
      '--chars': none,
      '--lines': none,
      '--words': none,
      '--max-line-length': none,
    },
    operands: 'path',
    minOperands: 1,
  },
  whoami: {
    summary: 'print the user the sandbox runs as',
    parse: 'getopt',
    options: {},
    operands: null,
  },
  yes: {
    summary: 'print a line over and over (until the output cap)',
    parse: 'none',
    options: {},
    operands: 'text',
    maxOperands: 8,
  },
};

/** What an installation allows when SHELL_ALLOWLIST is not set. */
export const DEFAULT_SHELL_ALLOWLIST = 'date,df,du,free,uname,uptime,ls,cat,head,tail,wc';

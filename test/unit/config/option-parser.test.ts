import { describe, expect, expectTypeOf, it } from 'vitest';
import { describeOptions, group, parseOptions, type OptionTree } from '../../../src/config/option-parser.js';
import { ConfigError } from '../../../src/errors.js';
import { loadSimulateConfig } from '../../../src/config/simulate-config.js';

const TREE = {
  name: { flag: 'name', env: 'T_NAME', kind: 'string', default: 'x', help: 'a name' },
  tags: { flag: 'tag', kind: 'list', help: 'tags' },
  timing: {
    delayMs: { flag: 'delay-s', kind: 'int', default: 2, to: (seconds: number) => seconds * 1000, help: 'a delay' },
    limit: { flag: 'limit', kind: 'int', help: 'no default' },
  },
  endpoint: group(
    {
      host: { flag: 'endpoint-host', kind: 'string', default: 'h', help: 'host' },
      port: { flag: 'endpoint-port', kind: 'int', default: 1, help: 'port' },
    },
    ({ host, port }) => `${host}:${port}`,
  ),
} satisfies OptionTree;

describe('parseOptions over a tree', () => {
  it('lays the values out as the tree: sections nest, groups combine, `to` converts', () => {
    const { values } = parseOptions(TREE, ['--delay-s', '3', '--endpoint-port', '9', '--tag', 'a,b', '--tag', 'c'], { T_NAME: 'y' });
    expect(values).toEqual({ name: 'y', tags: ['a', 'b', 'c'], timing: { delayMs: 3000, limit: undefined }, endpoint: 'h:9' });
    expectTypeOf(values.timing.delayMs).toEqualTypeOf<number>();
    expectTypeOf(values.timing.limit).toEqualTypeOf<number | undefined>();
    expectTypeOf(values.endpoint).toEqualTypeOf<string>();
    expectTypeOf(values.tags).toEqualTypeOf<readonly string[]>();
  });

  it('gives an unset list as empty and converts a default too', () => {
    const { values } = parseOptions(TREE, [], {});
    expect(values.tags).toEqual([]);
    expect(values.timing.delayMs).toBe(2000);
  });

  it('knows no --help of its own: the commands answer it before parsing', () => {
    expect(() => parseOptions(TREE, ['--help'], {})).toThrow(ConfigError);
    expect(() => parseOptions(TREE, ['--help'], {})).toThrow(/unknown flag --help/);
  });

  it('refuses a tree that declares a flag twice', () => {
    const twice = { a: { flag: 'same', kind: 'string', help: '' }, b: { c: { flag: 'same', kind: 'int', help: '' } } } satisfies OptionTree;
    expect(() => parseOptions(twice, [], {})).toThrow(/--same is declared twice/);
  });

  it('lists every flag in --help, nested ones in place', () => {
    const help = describeOptions(TREE);
    const order = ['--name', '--tag', '--delay-s', '--limit', '--endpoint-host', '--endpoint-port'].map((flag) => help.indexOf(`${flag}`));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > (order[i - 1] ?? 0)))).toBe(true);
    expect(help).toContain('--name [T_NAME]\n      a name (default "x")');
  });
});

describe('parseOptions: messages a person can act on', () => {
  const NUMBERS = {
    count: { flag: 'count', env: 'T_COUNT', kind: 'int', default: 1, check: (v: number) => (v < 1 ? 'must be at least 1' : undefined), help: 'a count' },
    ratio: { flag: 'ratio', kind: 'number', default: 0, help: 'a ratio' },
    name: { flag: 'name', kind: 'string', help: 'a name' },
    quiet: { flag: 'quiet', kind: 'boolean', default: false, help: 'a switch' },
  } satisfies OptionTree;

  it('takes a negative number after a flag as its value, for the check to judge', () => {
    expect(parseOptions(NUMBERS, ['--ratio', '-0.5', '--name', '-1'], {}).values).toMatchObject({ ratio: -0.5, name: '-1' });
    expect(() => parseOptions(NUMBERS, ['--count', '-1'], {})).toThrow(/^--count: must be at least 1$/);
    // Written the way parseArgs asks for, it is the same value.
    expect(() => parseOptions(NUMBERS, ['--count=-1'], {})).toThrow(/^--count: must be at least 1$/);
  });

  it('leaves what follows `--` alone', () => {
    expect(parseOptions(NUMBERS, ['--', '--count', '-1'], {}, { positionals: 3 }).positionals).toEqual(['--count', '-1']);
  });

  it('says plainly that a flag needs a value, or takes none, in one line', () => {
    const messages = [['--count'], ['--count', '--quiet'], ['--quiet=yes'], ['--nope']].map((argv) => {
      try {
        parseOptions(NUMBERS, argv, {});
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error(`${argv.join(' ')} was accepted`);
    });
    expect(messages).toEqual([
      '--count: needs a value',
      "--count: needs a value (to give one that starts with '-', write --count=VALUE)",
      '--quiet: is a switch and takes no value (give it or leave it out)',
      'unknown flag --nope (see --help)',
    ]);
    for (const message of messages) expect(message).not.toContain('\n');
  });

  it('names the variable and the flag when the value came from the environment', () => {
    expect(() => parseOptions(NUMBERS, [], { T_COUNT: '0' })).toThrow(/^T_COUNT \(--count\): must be at least 1$/);
    expect(() => parseOptions(NUMBERS, [], { T_COUNT: 'x' })).toThrow(/^T_COUNT \(--count\) \("x"\): expected an integer$/);
    // A flag wins over the variable, and is what the message names.
    expect(() => parseOptions(NUMBERS, ['--count', '0'], { T_COUNT: '5' })).toThrow(/^--count: must be at least 1$/);
    const { nameOf } = parseOptions(NUMBERS, [], { T_COUNT: '3' });
    expect(nameOf('count')).toBe('T_COUNT (--count)');
    expect(nameOf('ratio')).toBe('--ratio');
    expect(() => nameOf('nope')).toThrow(/--nope is not an option/);
  });
});

describe('loadSimulateConfig', () => {
  it('shares the log-level option and narrows the status vocabulary', () => {
    expect(loadSimulateConfig([], {})).toMatchObject({ logLevel: 'info', statusVocabulary: 'sdk', port: 8081 });
    expect(loadSimulateConfig(['--status-vocabulary', 'apiref'], {}).statusVocabulary).toBe('apiref');
    expectTypeOf(loadSimulateConfig([], {}).statusVocabulary).toEqualTypeOf<'sdk' | 'apiref'>();
    expect(() => loadSimulateConfig(['--log-level', 'loud'], {})).toThrow(/--log-level: must be one of fatal, error, warn, info, debug, trace, silent/);
    expect(() => loadSimulateConfig(['--status-vocabulary', 'other'], {})).toThrow(/--status-vocabulary/);
  });
});

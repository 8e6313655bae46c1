/**
 * Whether a parsed JSON value nests deeper than `maxDepth` (objects and arrays count one level
 * each). Iterative: a value deep enough to matter would overflow the stack of a recursive walk,
 * which is exactly what the check is there to spare JSON.stringify and the store later.
 */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > maxDepth) return true;
    for (const inner of Object.values(current)) if (inner !== null && typeof inner === 'object') stack.push({ value: inner, depth: depth + 1 });
  }
  return false;
}

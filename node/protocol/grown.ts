/**
 * Typed columns indexed by id (series, sources, name ids) that grow as ids do: by doubling, so a
 * column filled id by id is copied O(log n) times, never once per new id.
 */

/** The capacity that holds index `i`: doubling from max(`min`, `length`). */
export function grownCapacity(length: number, i: number, min = 1024): number {
  let n = Math.max(min, length);
  while (n <= i) n *= 2;
  return n;
}

/** `a`, or a grown copy of it with room for index `i` (capacity doubles, at least `min`). */
export function grown<T extends Uint8Array | Int32Array | Float64Array>(a: T, i: number, make: (n: number) => T, min = 1024): T {
  if (i < a.length) return a;
  const b = make(grownCapacity(a.length, i, min));
  b.set(a);
  return b;
}

/**
 * The duplicate keys a store may hold: a Bloom filter, so an add whose key it has never seen
 * skips the store's duplicate lookup (a LanceDB query, 4-7 ms here, paid by every add to a
 * scope not resident, such as a user's first after a start). It answers "maybe" for every key
 * it was given and, at 16 bits a key, for ~0.1% of the others; those take the lookup as before.
 * Keys are never removed: a deleted row's key only costs a lookup.
 */
export class KeyFilter {
  readonly #words: Uint32Array
  readonly #mask: number
  /** Keys it was sized for; past twice as many (8 bits a key, ~2% false "maybe") it is `full`. */
  readonly #capacity: number
  #keys = 0

  constructor(expectedKeys: number) {
    const bits = 2 ** Math.max(23, Math.ceil(Math.log2(Math.max(1, expectedKeys) * bitsPerKey)))
    this.#words = new Uint32Array(bits / 32)
    this.#mask = bits - 1
    this.#capacity = bits / bitsPerKey
  }

  add(key: string): void {
    const [a, b] = hashes(key)
    for (let i = 0; i < probes; i++) {
      const bit = (a + i * b) & this.#mask
      this.#words[bit >>> 5] = (this.#words[bit >>> 5] as number) | (1 << (bit & 31))
    }
    this.#keys++
  }

  mightHold(key: string): boolean {
    const [a, b] = hashes(key)
    for (let i = 0; i < probes; i++) {
      const bit = (a + i * b) & this.#mask
      if (((this.#words[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false
    }
    return true
  }

  /** Time to build a bigger one: false "maybe"s grow past ~2%. */
  get full(): boolean {
    return this.#keys > 2 * this.#capacity
  }
}

const bitsPerKey = 16
/** Bits set per key: near the best count (bits per key x ln 2 = 11), fewer for speed; ~0.1% false "maybe" at 16 bits a key. */
const probes = 7

/**
 * Two 32-bit hashes of the key (FNV-1a, and the same walk with MurmurHash2's multiplier), each
 * finished with MurmurHash3's fmix32 so the low bits the probes use are mixed too; the probes are
 * a + i·b (Kirsch-Mitzenmacher).
 */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5
  let b = 0x050c5d1f
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x5bd1e995)
  }
  return [fmix32(a), fmix32(b) | 1]
}

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

import { setFlagsFromString } from 'node:v8'

/**
 * Turns off V8's allocation-site pretenuring for this process: call it once, first thing, in a
 * process that serves searches (the `agentmem` CLI does). V8 moves an allocation site to the old
 * generation once enough of its objects lived through a young-generation GC; a search's
 * short-lived objects (fusion's hits, result items) sometimes qualify by the timing of that GC,
 * and from then on every search fills the old generation with garbage that only a full GC frees.
 * With the same code and data, 16 in-process callers ran 3,749-9,477 searches/s from one process
 * to the next, 6,018-10,122 with this call at start-up (median ~9,300; docs/architecture.md,
 * Reads). A process flag, so the library never sets it on its own: an embedding application
 * decides (or passes `--no-allocation-site-pretenuring` to node).
 */
export function turnOffPretenuring(): void {
  setFlagsFromString('--no-allocation-site-pretenuring')
}

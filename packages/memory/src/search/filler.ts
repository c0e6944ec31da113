import type { StoredMemory } from '../store/types.js'
import { tokenize } from './tokenizer.js'

/**
 * Words that carry no fact on their own: acknowledgements, greetings, thanks, agreement. Agents
 * that keep every message (`infer: false`) store "Noted!" and "Got it, thanks!" beside the facts,
 * and under averaged word vectors such short texts sit close to many questions. Stop words never
 * reach this list (the tokenizer drops them), so "Sure, I will remember that." is filler too.
 * Words that also state something ("remind", "help", "well", "happy") are left out on purpose.
 */
const FILLER_WORDS =
  'ok okay okey k alright right sure yes yeah yep yup nope nah thanks thank thx ty cheers welcome please great good nice cool ' +
  'awesome perfect wonderful excellent amazing lovely fantastic sounds sound got gotcha understood understand noted ' +
  'will do done hello hi hey hiya morning afternoon evening night goodnight bye goodbye later see soon lol haha hahaha hehe wow ' +
  'oh ah aha hmm um uh indeed absolutely definitely totally exactly agreed agree remember true really glad course problem ' +
  'worries pleasure interesting fun anytime np appreciate appreciated sweet much let know tell also'

const fillerTerms: ReadonlySet<string> = new Set(FILLER_WORDS.split(' ').flatMap((word) => tokenize(word)))

/** The tokenizer drops these as stop words, yet they turn a short text into a statement ("not good", "no, never"). */
const negation = /\b(no|not|never|nor|nothing|none|cannot)\b|n['’]t\b/i

/** Acknowledgements are short; a longer text of listed words is more likely a statement than chatter. */
const maxFillerTerms = 6

// Resident rows live as long as their scope: each is classified once.
const known = new WeakMap<StoredMemory, boolean>()

/**
 * True when a memory says nothing that could answer a question: at most a few terms, all filler
 * words, and no negation. One content word ("Noted: no peanuts") or a negation ("I am not
 * good") and it is never filler.
 */
export function isLowInformation(memory: StoredMemory): boolean {
  let low = known.get(memory)
  if (low === undefined) {
    const terms = tokenize(memory.text)
    low = terms.length <= maxFillerTerms && terms.every((term) => fillerTerms.has(term)) && !negation.test(memory.text)
    known.set(memory, low)
  }
  return low
}

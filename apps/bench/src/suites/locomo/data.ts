/**
 * LoCoMo (../shared/data/locomo, CC BY-NC: read at run time, never copied into the repo) as
 * retrieval units and questions, with the evidence ids normalised as PROVENANCE.md prescribes.
 */
import { readFileSync } from 'node:fs'

export interface LocomoTurn {
  diaId: string
  speaker: string
  /** What the speaker said, without the caption. */
  said: string
  /** `speaker: text`, plus `[image: caption]` for image turns (some answers are only in the caption). */
  text: string
  sessionDate: string
}

export interface LocomoQuestion {
  question: string
  category: 1 | 2 | 3 | 4 | 5
  /** Normalised, de-duplicated evidence ids that exist in the conversation; may be empty (4 items). */
  evidence: string[]
}

export interface LocomoConversation {
  id: string
  turns: LocomoTurn[]
  questions: LocomoQuestion[]
}

export const locomoPath = new URL('../../../../../../shared/data/locomo/locomo10.json', import.meta.url)

interface RawSample {
  sample_id: string
  conversation: Record<string, unknown>
  qa: Array<{ question: string; category: number; evidence?: string[] }>
}

/** `"D8:6; D9:17"`, `"D:11:26"`, `"D30:05"` and friends: split on `;` and spaces, accept `D:?n:0*m`. */
export function normaliseEvidence(raw: string[], known: ReadonlySet<string>): string[] {
  const ids = raw
    .flatMap((entry) => entry.split(/[;\s]+/))
    .map((part) => /^D:?(\d+):0*(\d+)$/.exec(part))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `D${m[1]}:${m[2]}`)
    .filter((id) => known.has(id))
  return [...new Set(ids)]
}

export function loadLocomo(): LocomoConversation[] {
  const samples = JSON.parse(readFileSync(locomoPath, 'utf8')) as RawSample[]
  return samples.map((sample) => {
    const turns: LocomoTurn[] = []
    // Iterate session_<n> keys: conv-26 has date_time keys for sessions that do not exist.
    for (const [key, value] of Object.entries(sample.conversation)) {
      if (!/^session_\d+$/.test(key) || !Array.isArray(value)) continue
      const sessionDate = String(sample.conversation[`${key}_date_time`] ?? '')
      for (const turn of value as Array<{ speaker: string; dia_id: string; text: string; blip_caption?: string }>) {
        const caption = turn.blip_caption ? ` [image: ${turn.blip_caption}]` : ''
        turns.push({ diaId: turn.dia_id, speaker: turn.speaker, said: turn.text, text: `${turn.speaker}: ${turn.text}${caption}`, sessionDate })
      }
    }
    const known = new Set(turns.map((t) => t.diaId))
    const questions = sample.qa.map((qa) => ({
      question: qa.question,
      category: qa.category as LocomoQuestion['category'],
      evidence: normaliseEvidence(qa.evidence ?? [], known),
    }))
    return { id: sample.sample_id, turns, questions }
  })
}

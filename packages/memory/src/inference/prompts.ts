import { z } from 'zod'

/**
 * The three LLM calls of inference mode and the JSON each must return. Existing memories are shown
 * to the model as small integers, never as ids, so it cannot invent or mistype an id: an integer
 * out of range is caught when the decisions are checked.
 */

export const extractionSchema = z.object({
  facts: z.array(
    z.object({
      text: z.string().min(1).max(2000),
      /** Indices of the input messages the fact comes from (provenance). */
      sources: z.array(z.number().int().min(0)),
    }),
  ),
})
export type Extraction = z.infer<typeof extractionSchema>

export const decisionEvents = ['ADD', 'UPDATE', 'DELETE', 'NONE'] as const
export const decisionSchema = z.object({
  decisions: z.array(
    z.object({
      /** Index of the new fact. */
      fact: z.number().int(),
      event: z.enum(decisionEvents),
      /** Index of the existing memory, for UPDATE, DELETE and NONE. */
      memory: z.number().int().nullable(),
      /** UPDATE: the merged text that replaces the memory's text. */
      text: z.string().max(2000).nullable(),
    }),
  ),
})
export type Decisions = z.infer<typeof decisionSchema>

export const procedureSchema = z.object({ procedure: z.string().min(1).max(20_000) })

export interface PromptMessage {
  role: string
  content: string
}

function numbered(lines: string[]): string {
  return lines.map((line, i) => `[${i}] ${line}`).join('\n')
}

export function extractionPrompt(messages: PromptMessage[], date: string, instructions: string | undefined): { system: string; user: string } {
  return {
    system: [
      'You extract durable facts worth remembering about the user from a conversation: preferences, biography, plans, relationships, possessions, health, work, opinions.',
      'Each fact is one short, self-contained sentence that names its subject (for example "Likes hiking in the Alps"). Skip greetings, small talk and anything only the assistant said unless the user confirmed it.',
      `The conversation took place on ${date}. Rewrite relative dates ("yesterday", "next Friday", "last year") as absolute dates.`,
      'For each fact list the indices of the messages it comes from in "sources".',
      'Return JSON: {"facts": [{"text": string, "sources": [number]}]}. Return {"facts": []} if there is nothing to remember.',
      ...(instructions ? [`Additional instructions: ${instructions}`] : []),
    ].join('\n'),
    user: numbered(messages.map((m) => `${m.role}: ${m.content}`)),
  }
}

export function decisionPrompt(facts: string[], memories: string[]): { system: string; user: string } {
  return {
    system: [
      'You keep a memory store consistent. Compare each new fact with the existing memories and decide, for every new fact, one event:',
      '- ADD: the fact is new information.',
      '- UPDATE: the fact refines or extends existing memory "memory"; give the merged sentence in "text".',
      '- DELETE: the fact contradicts existing memory "memory" (for example a changed preference); the old memory is kept as history and the new fact is stored.',
      '- NONE: the fact is already known from existing memory "memory".',
      'Refer to existing memories only by their number. Return one decision per new fact.',
      'Return JSON: {"decisions": [{"fact": number, "event": "ADD"|"UPDATE"|"DELETE"|"NONE", "memory": number|null, "text": string|null}]}.',
    ].join('\n'),
    user: `Existing memories:\n${memories.length > 0 ? numbered(memories) : '(none)'}\n\nNew facts:\n${numbered(facts)}`,
  }
}

export function procedurePrompt(messages: PromptMessage[], instructions: string | undefined): { system: string; user: string } {
  return {
    system: [
      "You summarise an agent's run into a procedure it can follow next time: the task, the steps taken in order with the actions and their key results, what worked, what failed, and the outcome.",
      'Be specific: keep names, parameters, file paths, URLs and error messages.',
      'Return JSON: {"procedure": string}.',
      ...(instructions ? [`Additional instructions: ${instructions}`] : []),
    ].join('\n'),
    user: numbered(messages.map((m) => `${m.role}: ${m.content}`)),
  }
}

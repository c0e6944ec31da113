/**
 * Facts among filler: this repository's own small set (not LoCoMo), written for issue 18's
 * "Noted!" problem. Agents that keep every message (`infer: false`) store acknowledgements,
 * greetings and thanks beside the facts; a question must still find its fact first. Each
 * question is a paraphrase of one fact, mostly without its words, as a user would ask later.
 */
export interface FillerCase {
  fact: string
  question: string
}

export const fillerCases: FillerCase[] = [
  { fact: 'I am allergic to peanuts', question: 'What food must the user avoid?' },
  { fact: 'My sister Ana lives in Porto', question: 'Where does her sibling live?' },
  { fact: 'I work night shifts as a nurse at the city hospital', question: 'What is the user’s job?' },
  { fact: 'We adopted a beagle called Pepper last spring', question: 'Does the user have a pet dog?' },
  { fact: 'I take my coffee black with no sugar', question: 'How does the user like their morning drink?' },
  { fact: 'My daughter starts primary school in September', question: 'When does the child begin her education?' },
  { fact: 'I am training for the Berlin marathon in October', question: 'Which race is the user preparing for?' },
  { fact: 'I moved from Lisbon to Madrid in 2023', question: 'Where did the user relocate to?' },
  { fact: 'My favourite author is Ursula K. Le Guin', question: 'Which writer does the user love most?' },
  { fact: 'I cannot eat gluten because of coeliac disease', question: 'Which dietary restriction does the user have?' },
  { fact: 'I play the cello in a community orchestra', question: 'What instrument does the user play?' },
  { fact: 'My husband is a software engineer at a bank', question: 'What does the user’s partner do for work?' },
  { fact: 'I prefer aisle seats on long flights', question: 'Where does the user want to sit on a plane?' },
  { fact: 'My birthday is on the 14th of March', question: 'When should we celebrate the user?' },
  { fact: 'I am learning Japanese for a trip to Kyoto next year', question: 'Which language is the user studying?' },
  { fact: 'I drive an old blue Volvo estate', question: 'What car does the user own?' },
  { fact: 'My blood pressure medication is taken every morning', question: 'Does the user take any medicine?' },
  { fact: 'I volunteer at the animal shelter on Saturdays', question: 'What does the user do at weekends?' },
  { fact: 'My son is afraid of thunderstorms', question: 'What scares the boy?' },
  { fact: 'I graduated in marine biology from Aberdeen', question: 'What did the user study at university?' },
  { fact: 'I am vegetarian but I still eat eggs', question: 'Does the user eat meat?' },
  { fact: 'My mother recently had hip surgery', question: 'Has anyone in the family been in hospital?' },
  { fact: 'I hate horror films but love documentaries', question: 'What kind of movies should we suggest?' },
  { fact: 'Our wedding anniversary is in late June', question: 'When did the couple get married?' },
  // Made of greeting words, yet a fact: the negation keeps it from being taken for filler.
  { fact: 'Mornings are not good for me', question: 'Is the user a morning person?' },
]

/** Acknowledgements, greetings and thanks, as agents store them when they keep every message. */
export const fillerMemories: string[] = [
  'Noted!',
  'Got it, thanks!',
  'Sure, I will remember that.',
  'OK',
  'Okay, sounds good.',
  'Thank you so much!',
  'Hi there!',
  'Hello, how are you?',
  'Good morning!',
  'Great, thanks for letting me know.',
  'Will do.',
  'Haha, yes!',
  'Cool.',
  'Of course!',
  'You are welcome.',
  'Understood.',
  'Perfect, thank you.',
  'Good night!',
  'Alright, I see.',
  'Yes, exactly.',
]

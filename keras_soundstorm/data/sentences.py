"""The built-in English sentences of `EspeakCorpus` (written for this project).

`SENTENCES` is a fixed tuple: a sentence's id is its index, so entries must
never be reordered or edited, or cached utterances and splits change meaning.
It is closed at 408 sentences: the tuning sentences' ids follow it. It holds
hand-written sentences (statements, questions, exclamations, numbers, dates)
followed by sentences built from a few templates with fixed word lists,
indexed by arithmetic (no randomness).

`TUNING_SENTENCES` are further hand-written sentences for choosing decoding
settings (guidance scale, temperature, top-k): never trained on and never in
the held-out test rows. `EspeakCorpus` gives them the ids after `SENTENCES`.
"""

_HANDWRITTEN = (
    "The sun rose slowly over the quiet hills.",
    "Could you pass me the salt, please?",
    "I left my umbrella on the train this morning.",
    "She painted the kitchen a soft shade of green.",
    "Our flight was delayed by almost two hours.",
    "The children built a castle out of wet sand.",
    "Turn left at the bakery and walk past the bank.",
    "He never forgets to water the plants on Sunday.",
    "What time does the museum open tomorrow?",
    "The old clock in the hall stopped at midnight.",
    "We watched the storm roll in from the sea.",
    "A cup of hot tea is all I need right now.",
    "The library closes early on public holidays.",
    "My brother fixed the bicycle with a single wrench.",
    "Please speak a little more slowly.",
    "The river was too cold for swimming.",
    "They planted forty apple trees behind the barn.",
    "Is this the right bus for the city center?",
    "The baker wakes up at four every morning.",
    "Nobody noticed the cat sleeping on the piano.",
    "I think it might snow later tonight.",
    "The meeting has been moved to Thursday afternoon.",
    "Her voice echoed through the empty stadium.",
    "We ran out of milk, so I made black coffee.",
    "The puppy chased its tail until it fell over.",
    "How far is it to the nearest train station?",
    "The garden smells wonderful after the rain.",
    "He wrote the letter by hand, in blue ink.",
    "Thirty seven people signed up for the race.",
    "The lights flickered and then went out.",
    "Would you like to join us for dinner on Friday?",
    "The mountain path was steep and covered in stones.",
    "I can hear birds singing outside my window.",
    "The price of bread went up again this week.",
    "She found an old photograph inside the book.",
    "The engine made a strange noise on the highway.",
    "Why is the sky blue during the day?",
    "Grandma keeps her buttons in a biscuit tin.",
    "The team celebrated their victory with pizza.",
    "A gentle breeze moved the curtains.",
    "The doctor asked me to breathe in deeply.",
    "We should leave before the traffic gets worse.",
    "The museum has a famous painting of a ship.",
    "Where did you put the keys to the shed?",
    "The soup needs a little more pepper.",
    "My phone battery died in the middle of the call.",
    "The farmer counted his sheep twice.",
    "It was the warmest day of the year so far.",
    "The students listened carefully to the lecture.",
    "Let me know when you arrive at the hotel.",
    "The bridge was closed for repairs all summer.",
    "He whistled a happy tune while he worked.",
    "The ice cream melted before we reached the car.",
    "Which way is north from here?",
    "The fox crept quietly past the sleeping dog.",
    "Our neighbors are moving to another country.",
    "The coffee shop on the corner sells fresh bagels.",
    "I have never seen so many stars in the sky.",
    "The wind blew the hat right off his head.",
    "Please remember to lock the door when you leave.",
    "The concert starts at half past seven.",
    "She speaks three languages fluently.",
    "The boat drifted gently toward the shore.",
    "Do you know the name of that song?",
    "The soldiers marched across the frozen field.",
    "A red balloon floated high above the town.",
    "The teacher wrote a long sum on the board.",
    "Ten green bottles stood on the wall.",
    "I would rather walk than wait for the bus.",
    "The lamp on my desk gives a warm yellow light.",
    "What a beautiful view from the top of the tower!",
    "The parcel arrived two days earlier than expected.",
    "He spilled orange juice all over the newspaper.",
    "The owl hooted softly in the dark forest.",
    "We need more chairs for the guests.",
    "The waves crashed against the rocks all night.",
    "My sister is learning to play the violin.",
    "This road leads straight to the harbor.",
    "The shop sells everything from nails to candles.",
    "Who left the window open in the kitchen?",
    "The train to Bristol leaves from platform nine.",
    "Fresh snow covered the roofs of the village.",
    "The pilot announced that we would land soon.",
    "I borrowed a ladder from the man next door.",
    "The crowd cheered loudly when the band appeared.",
    "Be careful, the floor is still wet!",
    "The recipe calls for two eggs and a cup of flour.",
    "A small boat was tied to the wooden dock.",
    "The baby laughed at the funny faces.",
    "It takes about an hour to drive to the coast.",
    "The hikers rested beside a clear mountain lake.",
    "Have you finished reading that novel yet?",
    "The printer jammed on the very last page.",
    "We picked strawberries until our baskets were full.",
    "The streets were empty on that foggy morning.",
    "He keeps a diary of every trip he takes.",
    "The market is busiest on Saturday mornings.",
    "The radio played old songs all afternoon.",
    "Please write your name at the top of the page.",
    "The squirrel buried a nut under the oak tree.",
    "My watch is five minutes fast.",
    "The kettle whistled loudly in the kitchen.",
    "They sailed around the island in three days.",
    "Can you help me carry these boxes upstairs?",
    "The first snowdrops appeared in late January.",
    "The queue for tickets stretched around the block.",
    "She tied a yellow ribbon around the gift.",
    "The machine counts coins faster than any person.",
    "We heard thunder far away over the valley.",
    "The glass vase broke into a hundred pieces.",
    "On the fourth of July the town holds a parade.",
    "The hotel room had a view of the lake.",
    "I am sorry, I did not catch your name.",
    "The horse jumped over the fence with ease.",
    "Lunch will be served in the main hall at noon.",
    "The candle burned down to a tiny stub.",
    "Is there a pharmacy open near here?",
    "The tall ship sailed into the harbor at dawn.",
    "Eight hundred people live in this small village.",
    "He sang quietly to himself on the way home.",
)

_NAMES = (
    "Anna",
    "Peter",
    "Maria",
    "David",
    "Lucy",
    "Thomas",
    "Sarah",
    "Robert",
    "Emma",
    "James",
    "Olivia",
    "Daniel",
    "Grace",
    "Samuel",
    "Helen",
    "Oscar",
)
_ADJECTIVES = (
    "little",
    "heavy",
    "shiny",
    "broken",
    "quiet",
    "bright",
    "wooden",
    "tiny",
    "enormous",
    "dusty",
    "friendly",
    "silver",
    "ancient",
    "colorful",
    "soft",
    "sleepy",
    "curious",
    "golden",
    "narrow",
    "noisy",
)
_NOUNS = (
    "basket",
    "lantern",
    "kitten",
    "letter",
    "bicycle",
    "blanket",
    "teapot",
    "parrot",
    "mirror",
    "suitcase",
    "drum",
    "puppy",
    "candle",
    "notebook",
    "jacket",
    "bottle",
    "rabbit",
    "guitar",
    "pillow",
    "wagon",
)
_PLURALS = (
    "apples",
    "stones",
    "shells",
    "birds",
    "coins",
    "boats",
    "flowers",
    "pencils",
    "cookies",
    "stamps",
    "ducks",
    "leaves",
)
_PLACES = (
    "garden",
    "kitchen",
    "station",
    "market",
    "library",
    "river",
    "forest",
    "harbor",
    "attic",
    "bridge",
    "village square",
    "old barn",
    "playground",
    "beach",
    "hallway",
    "bakery",
)
_PREPOSITIONS = ("near", "behind", "inside", "under", "beside", "across")
_PAST_VERBS = (
    "found",
    "carried",
    "painted",
    "dropped",
    "cleaned",
    "hid",
    "bought",
    "noticed",
    "repaired",
    "wrapped",
    "sold",
    "borrowed",
)
_VERBS = (
    "bring",
    "check",
    "open",
    "move",
    "wash",
    "fold",
    "close",
    "take",
    "hold",
    "clean",
)
_TIMES = (
    "yesterday",
    "last night",
    "this morning",
    "on Monday",
    "after lunch",
    "before breakfast",
    "in the evening",
    "last summer",
    "at sunrise",
    "on the weekend",
)
_NUMBERS = (
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "fifteen",
    "twenty",
    "thirty",
    "fifty",
    "a hundred",
)
_FOODS = (
    "toast",
    "rice",
    "soup",
    "pancakes",
    "salad",
    "noodles",
    "cheese",
    "porridge",
    "fish",
    "potatoes",
    "beans",
    "honey",
)
_HABITS = (
    "for breakfast",
    "on Sundays",
    "in winter",
    "after school",
    "on cold days",
    "at picnics",
    "for supper",
    "on holidays",
    "when it rains",
)
_RELATIVES = ("brother", "sister", "uncle", "aunt", "cousin", "grandfather")
_FEELINGS = ("happy", "tired", "surprised", "nervous", "proud", "hungry")


def _pick(words, i, stride, offset=0):
    # The i // len term shifts the pairings of words after every full cycle.
    return words[(i * stride + offset + i // len(words)) % len(words)]


def _a(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def _templated(count_per_template=36):
    templates = (
        lambda i: (
            f"The {_pick(_ADJECTIVES, i, 3)} {_pick(_NOUNS, i, 7)} is "
            f"{_pick(_PREPOSITIONS, i, 1)} the {_pick(_PLACES, i, 5)}."
        ),
        lambda i: (
            f"{_pick(_NAMES, i, 5)} {_pick(_PAST_VERBS, i, 7)} "
            f"{_a(_pick(_ADJECTIVES, i, 11, 4))} {_pick(_NOUNS, i, 3, 2)} "
            f"{_pick(_TIMES, i, 3)}."
        ),
        lambda i: (
            f"Did you see the {_pick(_NOUNS, i, 9, 5)} "
            f"{_pick(_PREPOSITIONS, i, 5, 2)} the {_pick(_PLACES, i, 3, 7)}?"
        ),
        lambda i: (
            f"Please {_pick(_VERBS, i, 3)} the {_pick(_ADJECTIVES, i, 7, 9)} "
            f"{_pick(_NOUNS, i, 13, 1)} before {_pick(_NAMES, i, 7, 3)} comes home."
        ),
        lambda i: (
            f"We counted {_pick(_NUMBERS, i, 5)} {_pick(_PLURALS, i, 7)} "
            f"{_pick(_PREPOSITIONS, i, 1, 3)} the {_pick(_PLACES, i, 11, 2)}."
        ),
        lambda i: (
            f"My {_pick(_RELATIVES, i, 1)} likes {_pick(_FOODS, i, 5)} with "
            f"{_pick(_FOODS, i, 7, 3)} {_pick(_HABITS, i, 4, 1)}."
        ),
        lambda i: (
            f"{_pick(_NAMES, i, 3, 8)} felt {_pick(_FEELINGS, i, 5)} when the "
            f"{_pick(_NOUNS, i, 11, 6)} arrived."
        ),
        lambda i: (
            f"Why did {_pick(_NAMES, i, 9, 1)} leave the {_pick(_NOUNS, i, 3, 9)} "
            f"near the {_pick(_PLACES, i, 7, 4)}?"
        ),
    )
    sentences = []
    for template in templates:
        for i in range(count_per_template):
            sentence = template(i)
            if sentence not in sentences:
                sentences.append(sentence)
    return tuple(sentences)


SENTENCES = _HANDWRITTEN + tuple(s for s in _templated() if s not in set(_HANDWRITTEN))

# Append only: a tuning sentence's id is len(SENTENCES) (408) + its index.
TUNING_SENTENCES = (
    "The kettle whistled while we looked for clean cups.",
    "Can you carry the ladder to the back of the house?",
    "A heavy fog covered the harbor until noon.",
    "My sister plays the violin in a small band.",
    "The waiter brought us bread and a bowl of olives.",
    "Remember to close the gate behind the goats.",
    "The printer jammed just before the meeting started.",
    "Why did the bakery stop selling cherry pies?",
    "Our train rolled slowly through the snowy valley.",
    "He painted a tiny boat on the inside of the lid.",
    "The candles burned low as the guests went home.",
    "I found a silver coin under the kitchen table.",
    "The nurse checked the chart and smiled at me.",
    "Leave your muddy boots by the front door, please.",
    "The owls called to each other across the woods.",
    "We borrowed a tent and camped beside the lake.",
    "The market sells honey, cheese and fresh eggs.",
    "Who left the radio playing in the garage?",
    "The wooden bridge creaked under the heavy cart.",
    "She wrapped the present in bright orange paper.",
    "The pilot told us to fasten our seat belts.",
    "A small dog barked at the mail van every day.",
    "They painted the fence white before the party.",
    "The recipe calls for two spoons of sugar.",
)

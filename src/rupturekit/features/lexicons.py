"""Lexicons behind the 3RS cue features, as data.

Phrase lexicons are tuples of small regular-expression fragments matched against the
*normalised* utterance text: lower-cased, curly quotes made straight, whitespace collapsed.
When they are compiled (see `rupturekit.features.text.compile_lexicon`):

- every apostrophe becomes optional, so ``i'm`` also matches ``im`` and ``don't`` ``dont``;
- a fragment matches whole words only: it may not start right after a letter, digit or
  apostrophe, nor end right before a letter or digit (so ``no`` never matches ``nothing``);
  a fragment that should match a word stem says so with ``\\w*``.

Word lexicons (frozensets) are compared with spaCy's lower-cased tokens. spaCy splits
contractions ("I'm" -> "i", "'m"; "don't" -> "do", "n't"), so word lists hold single tokens.

Entries are written for this project, kept short and readable; they are cues, not a
classifier, and the models downstream weigh them.
"""

from __future__ import annotations

# --------------------------------------------------------------------------------------
# Shared building blocks (used inside several phrase lexicons)
# --------------------------------------------------------------------------------------

# Feeling words a speaker can name or deny ("you seem upset", "I'm not angry").
EMOTION_WORDS: tuple[str, ...] = (
    "upset", "angry", "mad", "annoyed", "irritated", "frustrated", "furious", "sad", "hurt",
    "depressed", "low", "anxious", "worried", "nervous", "scared", "afraid", "frightened",
    "stressed", "overwhelmed", "ashamed", "embarrassed", "guilty", "lonely", "disappointed",
    "jealous", "bitter", "resentful", "bothered", "hopeless", "helpless", "tense", "on edge",
    "uncomfortable", "uneasy", "defensive", "shut down", "rejected", "let down", "criticised",
    "criticized", "judged", "attacked",
)

# Feelings a therapist may disclose about the interaction itself (used with "I feel ...").
DISCLOSED_FEELINGS: tuple[str, ...] = EMOTION_WORDS + (
    "stuck", "shut out", "lost", "confused", "unsure", "torn", "protective", "moved", "touched",
    "curious", "concerned", "pulled", "pressured", "hopeful", "sad", "a pull", "an urge",
    "distant", "disconnected", "closer", "drawn", "cautious", "hesitant", "responsible",
)

# Mild intensifiers/softeners allowed between "I feel" and the feeling.
SOFTENERS = r"(?:(?:a|a bit|a little|a little bit|kind of|sort of|quite|really|very|so|somewhat|rather|pretty)\s+)*"

# Negative evaluation words used to spot complaints near a topic noun.
NEGATIVE_EVALUATION: tuple[str, ...] = (
    "pointless", "useless", "stupid", "silly", "ridiculous", "absurd", "dumb", "childish",
    "boring", "tedious", "annoying", "a waste", "waste of", "doesn't help", "don't help",
    "doesn't work", "don't work", "not working", "not helping", "no use", "hate", "can't stand",
    "sick of", "tired of", "fed up", "don't see the point", "don't see why", "what's the point",
    "never enough", "not enough", "too short", "too long", "too much", "too expensive", "too early",
    "too late", "too far", "too cold", "too hot", "freezing", "rushed", "unfair", "annoyed",
    "frustrating", "ridiculously", "a joke", "a pain", "nightmare", "can't afford", "a lot of money",
    "costs? a fortune", "expensive", "always end", "cut me off", "cut off", "don't want to",
    "didn't do", "not doing", "won't do", "keep (?:doing|making|asking|talking)",
    "feels? (?:so |a bit |really |pretty )?(?:ridiculous|silly|stupid|pointless|weird|fake|awkward|"
    "cringe|melodramatic|childish)",
    "cringe", "busywork", "box-ticking", "don't get the point", "(?:doesn't|don't|won't) do (?:anything|much|a thing)",
    "(?:haven't got|don't have) the energy", "not more", "torture", "goes (?:so )?fast", "goes nowhere", "impossible",
    "worst",
    "awful", "terrible", "(?:i'd|i would) rather not", "i wish", "could at least", "lose half", "nobody asked",
    "every (?:single )?(?:time|week|night)", "just as i", "right when",
)

# Words that carry no topic: fillers and backchannels, on top of spaCy's English stop words
# (left out of content-word overlap and of the pooled embeddings).
FILLERS: frozenset[str] = frozenset({
    "yeah", "yes", "yep", "okay", "ok", "um", "uh", "umm", "hmm", "mm", "mhm", "uh-huh", "oh", "ah",
    "gonna", "wanna", "gotta", "kinda", "sorta", "like", "just", "really", "right", "well", "know", "think",
    "thing", "things", "stuff", "lot", "lots", "got", "get", "going", "sure", "actually", "mean",
})

# --------------------------------------------------------------------------------------
# Withdrawal: minimal response
# --------------------------------------------------------------------------------------

# Backchannel and filler words: a turn made only of these says little ("Yeah.", "Mm-hmm.", "Fine.").
BACKCHANNEL: tuple[str, ...] = (
    "yeah", "yea", "yes", "yep", "yup", "ya", "ok", "okay", "k", "alright", "all right", "right",
    "sure", "fine", "good", "great", "cool", "true", "m+", "m+-?h+m+", "uh-?huh", "uh+", "um+", "hm+",
    "oh", "ah", "eh", "i see", "i know", "i guess", "i suppose", "i think so", "i don't know",
    "dunno", "don't know", "whatever", "no", "nope", "nah", "not really", "maybe", "perhaps",
    "probably", "kind of", "sort of", "exactly", "absolutely", "definitely", "of course", "got it",
    "sounds good", "that's right", "thanks", "thank you", "well", "so", "and", "i mean",
)

# Hedges and uncertainty ("I guess", "maybe", "sort of").
HEDGES: tuple[str, ...] = (
    "i guess", "i suppose", "i don't know", "dunno", "don't know", "maybe", "perhaps", "probably",
    "sort of", "kind of", "kinda", "sorta", "i'm not sure", "not sure", "possibly",
    "might be", "could be", "somewhat", "more or less", "i dunno", "i mean, i don't know", "or something",
)

# "I don't know" and its short forms: the classic minimal answer.
DONT_KNOW: tuple[str, ...] = (
    "i don't know", "i do not know", "don't know", "dunno", "no idea", "not sure", "i'm not sure",
    "who knows(?= ?[.?!,]|$)", "can't say", "couldn't say", "no clue",
)

# Open questions and open invitations to talk ("How...", "Tell me about...").
OPEN_PROMPT_START = (
    r"(?:how|why|what|in what way|tell me|describe|say (?:a bit |a little )?more|walk me through|talk (?:to me )?about"
    r"|explain|help me understand|i'm (?:curious|wondering) (?:about|what|how|why))"
)
# Wh-questions that ask for a fact and so are closed ("What day works?", "How many drinks?").
CLOSED_WH_START = (
    r"(?:what (?:day|days|time|times|date|year|month|week|number|age|kind of (?:job|car|work))|"
    r"how (?:many|much|long|old|often|far)"
    r"|what's your (?:name|address|number|job)|which|when|where|who|whose|whom)"
)
# Auxiliary or modal that opens a yes/no question ("Do you...", "Is it...", "Would that...").
YES_NO_START = (
    r"(?:do|does|did|is|are|was|were|am|can|could|would|will|won't|should|shall|may|might|have|has|had"
    r"|isn't|aren't|wasn't|weren't|don't|doesn't|didn't|can't|couldn't|wouldn't|shouldn't|haven't|hasn't)"
)
# Discourse openers skipped before judging how a question starts ("So, ...", "And um, ...").
QUESTION_OPENERS = r"(?:(?:so|and|but|well|okay|ok|now|um|uh|then|right|alright|yeah|oh|and so|i mean)\W+)*"

# --------------------------------------------------------------------------------------
# Withdrawal: denial
# --------------------------------------------------------------------------------------

# Denying a feeling or problem ("I'm fine", "it's not a big deal", "doesn't bother me").
# "I'm fine" followed by "with/to/about..." is agreement, not denial, and is left out.
DENIAL: tuple[str, ...] = (
    r"i'm (?:really |totally |perfectly |just |actually )?(?:fine|ok|okay|alright|all right|good)"
    r"(?!,? (?:with|to|about|for|if|thanks|thank|doing|going|at|as long))",
    r"it's (?:all )?(?:fine|okay|ok|alright)(?:,)? really",
    r"(?:it's |that's )?(?:not|no) (?:a )?big deal", r"no biggie",
    r"(?:it's|it was|that's) nothing", r"nothing's wrong", r"nothing is wrong", r"there's nothing wrong",
    r"nothing to (?:talk|worry|say) about", r"there's nothing (?:to talk about|there|going on)",
    r"(?:doesn't|does not|didn't|did not|never) (?:really )?(?:bother|upset|affect|get to|hurt|worry) me",
    r"(?:i'm not|i am not|i wasn't|i was not|i'm really not|i'm not really|i never (?:felt|was)) (?:\w+ )?"
    r"(?:" + "|".join(EMOTION_WORDS) + r")(?! to\b)",
    r"(?:it|that|this) (?:doesn't|does not|didn't|did not|won't) (?:really )?(?:hurt|touch me|get to me|"
    r"affect me|upset me)",
    r"i (?:didn't|did not) (?:really |even )?mind", r"i don't have (?:any )?(?:feelings|a problem) (?:about|with)",
    r"(?:it's|that's|it is|that is|it was) (?:really |honestly |just |actually )?not (?:really )?(?:a|"
    r"an) (?:problem|issue|big thing)",
    r"(?:has|had|got) no (?:hold|effect) on me", r"i'm not one for (?:wallowing|making a fuss|fuss|moping)",
    r"(?:it|that) (?:doesn't|does not|didn't) (?:really )?matter", r"i don't (?:really )?care",
    r"i'm over it", r"(?:it's|that's) not (?:an issue|a problem|an issue for me)", r"not really a problem",
    r"i don't have a problem", r"no problem (?:at all )?(?:with|for) me", r"i'm not bothered",
    r"it's not like (?:it|that) (?:matters|bothers me)",
)

# The previous turn names a feeling ("you seem upset", "sounds like that hurt").
NAMES_FEELING: tuple[str, ...] = (
    r"(?:you|you're|you are|you were|you've been|you feel|you felt|you seem|you sound|you look|you seemed)"
    r" (?:\w+ )?(?:\w+ )?(?:" + "|".join(EMOTION_WORDS) + ")",
    r"(?:sounds|seems|looks) like (?:\w+ ){0,4}(?:" + "|".join(EMOTION_WORDS) + ")",
    r"(?:did|does|do) (?:that|it|this) (?:bother|upset|hurt|annoy|frustrate|worry) you",
    r"(?:how|what) did (?:that|it) (?:feel|make you feel)", r"that must (?:have been|be) (?:hard|painful|difficult)",
)

# --------------------------------------------------------------------------------------
# Withdrawal: deference and appeasing
# --------------------------------------------------------------------------------------

# Deferring to the therapist's authority or placating ("whatever you think", "you're the expert").
DEFERENCE: tuple[str, ...] = (
    r"whatever you (?:think|say|want|suggest|decide|feel)", r"you're the (?:doctor|expert|professional|boss|therapist)",
    r"you (?:would |'d )?know (?:best|better)", r"you tell me", r"if you say so", r"i'll do whatever",
    r"(?:it's )?up to you", r"(?:you're|you are) (?:absolutely|totally|completely|so|quite) right",
    r"(?:that's a |what a )?(?:great|good|excellent) (?:point|idea)", r"whatever works(?: for you)?",
    r"as you wish", r"i'll try (?:whatever|anything)", r"anything you (?:say|want)", r"i trust you",
    r"you know what you're doing", r"i'll go along with", r"if you think (?:so|it's best|that's best)",
    r"whatever is easiest", r"i don't mind(?:,)? (?:whatever|either)",
    r"you(?:'d| would)? know (?:far |much |a lot |so much )?(?:best|better|more)",
    r"if (?:that's what )?you (?:say|think)",
    r"you're the one (?:who knows|with the)", r"(?:follow|take) your lead", r"you always know", r"doing what i'm told",
    r"(?:whichever|whatever) (?:one )?you(?:'d| would)? (?:pick|choose|prefer|recommend)",
    r"i'll stick to (?:it|that|whatever)",
)

# A turn-opening agreement token ("Sure", "Yeah, okay", "Absolutely").
AGREEMENT: tuple[str, ...] = (
    "yes", "yeah", "yep", "yup", "sure", "ok", "okay", "alright", "all right", "right", "fine",
    "absolutely", "definitely", "of course", "sounds good", "that sounds good", "good idea",
    "i can do that", "i will", "i'll try", "will do", "agreed", "i agree", "totally", "exactly",
)

# A suggestion or directive ("let's", "I'd like you to", "you could try", "how about").
SUGGESTION: tuple[str, ...] = (
    r"let's", r"let us", r"i'd like (?:you|us) to", r"i want you to", r"i would like (?:you|us) to",
    r"you (?:could|should|might|may) (?:want to |wish to )?(?:try|do|think|consider|start|make|keep|write|"
    r"practi[cs]e|go)",
    r"(?:how|what) about (?:trying|doing|we|you|if)", r"why don't (?:you|we)", r"why not (?:try|do)",
    r"(?:would|could|will) you (?:be willing|try|consider|like to)", r"maybe you (?:could|can|might)",
    r"what if (?:you|we)", r"i (?:suggest|recommend|propose)", r"my suggestion", r"i'd (?:suggest|recommend)",
    r"it (?:might|may|would|could) help (?:to|if)", r"it would be (?:good|helpful|useful) (?:to|if)",
    r"try (?:to|and|doing|writing|noticing|practi[cs]ing)", r"(?:your|the|some) homework",
    r"for (?:this|next) week", r"(?:can|could) you (?:try|do|write|keep|practi[cs]e)",
    r"i wonder if (?:you|we) (?:could|might|can)", r"(?:one|another) (?:option|idea|thing you could)",
    r"you (?:really )?(?:should|need to|have to|must|ought to|'ve got to|got to)", r"i (?:really )?need you to",
    r"make sure (?:you|that)",
    r"i (?:think|recommend|suggest|would recommend|strongly recommend) (?:that )?you",
    r"i'm (?:gonna|going to) (?:recommend|suggest|ask you)",
    r"it's (?:really )?important (?:that you|to|for you)", r"(?:the|your) goal (?:is|would be|will be)",
    r"you (?:can|could) (?:try|use|start|cut)",
    r"(?:just|please) (?:try|go|take|pick|call|make|stop|cut)",
)

# --------------------------------------------------------------------------------------
# Withdrawal: abstract communication
# --------------------------------------------------------------------------------------

# Generic persons instead of "I" ("people", "one should", "everyone", generic "you").
GENERIC_PERSON: tuple[str, ...] = (
    r"people", r"everyone", r"everybody", r"anyone", r"anybody", r"nobody", r"no one", r"someone",
    r"somebody", r"most of us", r"humans?", r"human beings?", r"society", r"a person", r"the average person",
    r"(?<!the )(?<!which )(?<!this )(?<!that )(?<!no )(?<!every )(?<!any )one (?:\w+ly )?(?:can|could|"
    r"should|must|might|would|does|doesn't|has to|needs to|"
    r"(?!(?:is|was|has|as|its|this|plus|less|yes|minus|days|years|weeks|times)\b)[a-z]{2,}s)",
    r"you know how it is", r"any (?:\w+ )?(?:child|person|parent|man|woman|bloke|guy|adult|family)",
    r"(?:men|women|children|kids|parents|families|teenagers|adults|humans) (?:of|in|from|like|generally|"
    r"always|usually|tend|are|don't|do)",
    r"(?:when|if) you're (?:a|an|in|older|younger|young|old)", r"you (?:just )?have to (?:accept|live with|get on)",
    r"that's what (?:people|everyone) (?:do|does)", r"they say",
)

# Generalising and intellectualising phrases ("in general", "that's life", "philosophical").
GENERALIZING: tuple[str, ...] = (
    r"in general", r"generally", r"tends? to",
    r"that's (?:just )?(?:life|how it is|how it goes|the way it is|human nature)",
    r"it's (?:just )?human nature", r"these things", r"in a sense", r"on (?:some|a certain) level",
    r"philosophical(?:ly)?", r"theoretically", r"in theory", r"the nature of", r"as a rule", r"by and large",
    r"in the grand scheme", r"in principle", r"it's more of an? (?:\w+ )?(?:issue|question|thing)",
    r"how (?:relationships|people|life|the world) (?:work|works)", r"from an? (?:\w+ )?(?:perspective|standpoint)",
    r"objectively", r"hypothetically", r"universal(?:ly)?", r"well[- ](?:known|documented|established)",
    r"laws? of nature", r"natural order", r"fundamentally",
    r"(?:isn't it|aren't they|doesn't one|don't they|isn't that so)\?",
)

# Abstract nouns that are not nominalisations ("things", "life", "situation"); the suffix rule
# (ABSTRACT_SUFFIX) catches the rest ("frustration", "happiness", "reality").
ABSTRACT_WORDS: frozenset[str] = frozenset({
    "things", "thing", "stuff", "life", "nature", "issue", "issues", "concept", "concepts", "idea",
    "ideas", "sense", "aspect", "aspects", "level", "levels", "matter", "matters", "factor", "factors",
    "theory", "principle", "meaning", "purpose", "reason", "reasons", "truth", "fact", "world",
    "society", "culture", "values", "dynamic", "dynamics", "circumstances", "context", "general",
    "generally", "essentially", "basically", "fundamentally", "inherently", "abstract", "mindset",
})
# Suffixes of abstract nominalisations, applied to alphabetic tokens of 7+ letters.
ABSTRACT_SUFFIX = (
    r"(?:ness|ity|ities|tion|tions|sion|sions|ism|isms|ment|ments|ance|ances|ence|ences|ship|ships|hood|ology)"
)
# Common concrete words the suffix rule would wrongly count as abstract.
ABSTRACT_EXCEPTIONS: frozenset[str] = frozenset({
    "station", "nation", "apartment", "department", "government", "medication", "medications",
    "prescription", "appointment", "appointments", "question", "questions", "mention", "business",
    "witness", "equipment", "instrument", "basement", "pavement", "ointment", "distance", "entrance",
    "insurance", "ambulance", "audience", "evidence", "licence", "license", "conference", "residence",
    "session", "sessions", "television", "vacation", "location", "position", "university", "city",
    "community", "electricity", "treatment", "treatments", "payment", "payments", "moment", "moments",
    "sentence", "sentences", "science", "neighborhood", "neighbourhood", "childhood", "relationship",
    "relationships", "friendship", "partnership", "information", "condition", "conditions",
})

# --------------------------------------------------------------------------------------
# Withdrawal: avoidant storytelling and topic shift
# --------------------------------------------------------------------------------------

# Explicit topic changes ("anyway", "by the way", "that reminds me").
TOPIC_CHANGE: tuple[str, ...] = (
    r"(?:^|(?<=[.!?,;] ))(?:but,? |so,? |oh,? |um,? |well,? |and,? )?(?:anyways?|any ?how)(?=[,.!]|"
    r" (?:did|guess|have|the|my|so))",
    r"by the way", r"speaking of", r"talking of", r"(?:that|which|it) reminds me", r"on another note",
    r"changing the subject", r"oh,? and another thing", r"did i (?:tell|mention to) you", r"before i forget",
    r"totally unrelated", r"random(?:ly)?,? but", r"oh,? i forgot to (?:tell|mention)", r"guess what",
    r"moving on", r"on a different note", r"oh,? that's like",
)

# Narrative markers of a story being told ("so then", "the other day", "and then he goes").
NARRATIVE: tuple[str, ...] = (
    r"so then", r"and then", r"the other day", r"one time", r"this one time", r"long story",
    r"a while (?:back|ago)", r"last (?:week|weekend|night|month|year|summer|christmas)", r"(?:he|she|they) goes",
    r"(?:he|she|they) was like", r"and (?:he|she|they) said", r"so basically", r"next thing (?:i|you) know",
    r"it was a whole (?:saga|thing)", r"you won't believe", r"(?:years|months|weeks) ago", r"back when",
    r"when i was (?:a kid|young|little|growing up)", r"the funny thing is", r"funny thing", r"let me tell you",
    r"what happened was", r"turned out",
)

# Irregular past-tense verbs (regular ones are caught by the -ed rule on tokens).
IRREGULAR_PAST: frozenset[str] = frozenset({
    "was", "were", "had", "did", "went", "said", "told", "got", "came", "saw", "took", "made", "left",
    "thought", "knew", "felt", "gave", "found", "ran", "kept", "began", "became", "brought", "bought",
    "heard", "meant", "sat", "stood", "spent", "lost", "paid", "sent", "met", "wrote", "drove", "ate",
    "drank", "fell", "grew", "held", "woke", "won", "wore", "sold", "slept", "spoke", "stole", "taught",
    "understood", "threw", "forgot", "broke", "chose", "froze", "rode", "rose", "shook", "sang", "caught",
    "fought", "sought", "built", "dealt", "hung", "led", "lent", "lit", "swore", "tore", "wept", "wound",
})
# -ed words that are not past-tense verbs (or rarely are).
NOT_PAST_ED: frozenset[str] = frozenset({
    "need", "needs", "feed", "speed", "seed", "indeed", "bed", "red", "shed", "wed", "bred", "fed",
    "hundred", "sacred", "naked", "wicked", "kindred", "rugged", "ragged", "beloved", "crooked",
    "embed", "proceed", "succeed", "exceed", "weed", "greed", "deed", "bleed", "breed", "steed", "ted",
    "ned", "fred", "ed", "med", "meds", "bled", "sled", "led",
})

# --------------------------------------------------------------------------------------
# Withdrawal: content/affect split
# --------------------------------------------------------------------------------------

# Laughter in text or as a transcription note ("haha", "lol", "[laughs]").
LAUGHTER: tuple[str, ...] = (
    r"ha(?:ha)+h?", r"he(?:he)+", r"hah", r"ha", r"lol", r"lmao", r"rofl",
    r"[\[(*<](?:laughs?|laughing|laughter|chuckles?|chuckling|giggles?|giggling)[\])*>]",
)

# Brushing painful content off breezily ("it's all good", "oh well", "classic me").
MINIMIZING: tuple[str, ...] = (
    r"it's (?:all )?(?:fine|good|okay|ok|cool)", r"all good", r"oh well", r"such is life", r"it is what it is",
    r"could be worse", r"no biggie", r"classic me", r"story of my life", r"whatever,", r"what can you do",
    r"c'est la vie", r"moving on", r"no big deal", r"it's nothing", r"funny,? (?:really|actually)",
    r"i'm over it", r"(?:but )?hey,? (?:ho|whatever)",
)

# Painful or distressing life events and states ("died", "left me", "fired", "hospital").
PAINFUL_CONTENT: tuple[str, ...] = (
    r"died", r"dies", r"dead", r"death", r"passed away", r"funeral", r"grief", r"grieving", r"divorced?",
    r"(?:left|dumped|cheated on) me", r"broke up", r"break-?up", r"fired", r"laid off",
    r"lost (?:my|our|her|his|the) \w+",
    r"cancer", r"hospital\w*", r"diagnos\w*", r"abus\w*", r"hit me", r"beat me", r"assault\w*", r"raped?",
    r"suicid\w*", r"kill (?:myself|himself|herself)", r"overdos\w*", r"relaps\w*", r"miscarriage",
    r"evicted", r"homeless", r"arrested", r"jail", r"prison", r"accident", r"crash(?:ed)?", r"injur\w*",
    r"cried", r"crying", r"alone", r"lonely", r"terrified", r"panic(?:ked| attacks?)?", r"depress\w*",
    r"bullied", r"ignored me", r"humiliat\w*", r"hurt me", r"sick", r"illness", r"in debt", r"bankrupt",
)

# --------------------------------------------------------------------------------------
# Withdrawal: self-criticism and hopelessness
# --------------------------------------------------------------------------------------

# Self-blame and harsh self-evaluation ("I'm useless", "my fault", "I ruin everything").
SELF_CRITICISM: tuple[str, ...] = (
    r"i'm (?!not )(?:being |just |so |such |a |an |completely |totally |really |simply |the |one |"
    r"such a )*(?:\w+ )?(?:useless|hopeless|stupid|worthless|"
    r"pathetic|failure|idiot|mess|disaster|loser|no good|not good enough|weak|broken|coward|lost cause|"
    r"burden|nightmare|"
    r"terrible|awful|rubbish|problem|to blame|screw-?up|waste of space|wired wrong|silly)",
    r"(?:it's|it was|that's|that was|all) (?:all )?my (?:own )?fault",
    r"i (?:always|just|only) (?:ruin|mess|screw|mess up|wreck|fail)",
    r"i ruin everything", r"what's wrong with me", r"i hate (?:myself|me)", r"i can't do anything right",
    r"i (?:blame|hate) myself", r"i'm the (?:worst|problem)", r"i should have known better", r"i'm an idiot",
    r"(?:anyone|everyone) else would have", r"i (?:always|never) (?:get|do) (?:it|anything) (?:right|wrong)",
    r"i'm not (?:smart|strong|good) enough", r"i don't deserve", r"(?:i )?can't even (?:get|do|manage|make)",
    r"what use am i", r"(?:i'm )?wasting your time", r"(?:let|letting) (?:you|everybody|everyone|people) down",
    r"no willpower",
    r"(?:that's|that is) my problem", r"i'm (?:just )?not someone (?:this|it|therapy) works", r"doing everything wrong",
)

# Hopelessness about change or therapy ("I'll never get better", "what's the point").
HOPELESSNESS: tuple[str, ...] = (
    r"(?:never|not ever) (?:going to |gonna |ever |)(?:get|be|feel) (?:any )?better", r"what's the point",
    r"never going to (?:be|work|change|get)", r"(?:doesn't|won't|never) work(?:s)? (?:on|for) me",
    r"there's no point", r"no point (?:in|trying)", r"nothing (?:will|ever|is going to|can) (?:help|change|work)s?",
    r"(?:i|i'll|might as well) give up", r"i give up", r"hopeless", r"no hope", r"i'll never", r"it's no use",
    r"no way out", r"(?:can't|won't|will never) change", r"always be like this", r"never (?:going to |gonna )?change",
    r"why (?:even )?bother", r"too late for me", r"i can't (?:do|cope with) (?:this|it) anymore", r"doomed",
    r"nothing works", r"it's pointless",
)

# --------------------------------------------------------------------------------------
# Confrontation
# --------------------------------------------------------------------------------------

# Negative evaluation of the therapist, second person ("you don't understand", "you never").
YOU_NEGATIVE: tuple[str, ...] = (
    r"you (?:don't|do not|didn't|never|can't) (?:even )?(?:understand|get it|get me|listen|care|hear)",
    r"you (?:don't|do not) (?:even )?know what (?:it's like|you're (?:doing|talking about)|i'm going through)",
    r"(?:you're|you are|you aren't) not (?:even )?(?:listening|helping|getting it|hearing|understanding|"
    r"paying attention)",
    r"you always(?! know| help| make me feel| seem to know| get it right)", r"you never",
    r"you (?:just )?keep (?:saying|asking|pushing|telling|repeating|going on)",
    r"(?:you're|you are) (?:wrong|useless|judging|patronising|patronizing|condescending|lecturing|preaching|rude|"
    r"not helping|no help|just like|supposed to be)",
    r"you have no idea", r"(?:don't|do not) think you (?:know|understand|get|care)",
    r"you don't know what you're doing",
    r"you make it sound", r"what kind of (?:a )?(?:therapist|counsell?or|doctor)", r"are you (?:even )?listening",
    r"you sound (?:exactly |just )?like (?:my|the|a|an|every|some|him|her|them)(?!\w)", r"you people",
    r"you (?:just )?sit there", r"you (?:just )?don't get it",
    r"you're not (?:a very good|very good|good at)", r"(?:easy|easier) for you to say", r"you clearly (?:don't|didn't)",
    r"you (?:obviously|clearly) (?:don't|didn't|haven't)", r"you weren't listening", r"you didn't (?:listen|hear)",
    r"you (?:don't|never) remember (?:what i|anything i|half|a thing|a word)",
    r"you (?:often |always |just )?(?:seem|look|sound) (?:\w+ )?(?:bored|distracted|somewhere else|elsewhere|"
    r"uninterested|judgemental|judgmental|like you don't care)", r"you come across", r"can't win with you",
    r"what you always do",
    r"(?:you're|you are) (?:obviously |clearly |always )?on (?:their|his|her|the other|my \w+'s) side",
    r"(?:do|did) they teach you",
    r"i thought you were (?:different|better|supposed)", r"textbook (?:therapist|answer|response)", r"you dodge",
)

# Rejecting an intervention outright ("that's not it", "I don't agree", "that won't work").
REJECTION: tuple[str, ...] = (
    r"that's not (?:it|right|true|what (?:i|it)|how it is|the case|the problem|helpful)",
    r"(?:it's|it is) not (?:that|like that)",
    r"i (?:don't|do not) agree", r"i disagree", r"that's wrong", r"you're wrong", r"(?:nope|no)\W+wrong",
    r"i don't think so", r"no way", r"i'm not (?:doing|going to do|gonna do|trying) (?:that|this|it)",
    r"(?:that|it) (?:won't|will not|wouldn't|doesn't|does not) (?:work|help|apply|fit|make sense)",
    r"that's (?:a )?(?:stupid|ridiculous|dumb|silly|crazy|terrible|bad) (?:idea|suggestion|thing to say)",
    r"that doesn't (?:make sense|sound right|apply)", r"that's not how", r"i don't buy", r"that's not me",
    r"(?:it|that)'s not (?:about|because of) that", r"you've got it wrong", r"you got it wrong",
    r"not what i (?:said|meant)", r"i never said", r"i'm not going to (?:do|try) that",
    r"(?:you're|you are) reading (?:too much|a (?:great|good) deal|a lot|way too much) into",
    r"(?:has|had|'s got|got) nothing to do with",
    r"(?:that's not|it's not|that is not|it is not|it wasn't|that wasn't|it isn't|that isn't) (?:a |an |"
    r"the )?[\w-]+[,.;] (?:that's|it's|it was|this is)",
    r"it wasn't (?:the |a |an )?[\w-]+, it was", r"not everything is",
    r"don't (?:psychoanaly[sz]e|analy[sz]e|diagnose|label) me",
    r"i don't think (?:it's|that's|it is|that is) (?:that|it|about that|the reason|right)(?= ?[.,!;]|$)",
    r"i've heard (?:it all|all (?:that|this|of this|of that)|(?:that|this|it) before)",
    r"(?:i'm|i am) not (?:gonna|going to) (?:\w+ ){0,2}(?:take|allow|stop|quit|do|buy|give up|let)",
    r"i (?:just )?don't want to (?:get into|talk about|hear)",
    r"i (?:don't|do not) (?:really )?believe (?:that|it|you|this|what)",
    r"(?:it's|it is) my (?:right|choice|decision|body|life)", r"i'm not (?:at a point where|ready to)",
    r"are you serious",
    r"i'm done with (?:this|that)", r"you can't make me", r"whatever[,.!]",
)

# An opening refusal word ("No", "Nope", "Nah", "No, no").
OPENING_NO = r"^\W*(?:no+|nope|nah|no no|not really)\b(?!\s*(?:problem|worries|doubt)\b)"
# An opening "but" ("But...", "Yeah, but...", "Well, but...").
OPENING_BUT = r"^\W*(?:(?:yeah|yes|okay|ok|well|sure|right|i know|i see|mm+)\W+)?but\b"
# Benign openings with "no" that agree or reassure ("No, that sounds okay", "No problem").
BENIGN_NO: tuple[str, ...] = (
    r"no,? (?:that|it) (?:sounds|seems|is|was|'s) (?:ok|okay|fine|good|great|right|alright)",
    r"no problem", r"no worries", r"no,? (?:that's|thats) (?:fine|ok|okay|good|great|right|alright)",
    r"no,? (?:i think )?(?:that's|it's) (?:fine|ok|okay|good)", r"no,? thank you", r"no,? thanks",
)

# Tasks and activities of therapy ("exercise", "homework", "worksheet", "diary").
TASK_NOUNS: tuple[str, ...] = (
    r"exercises?", r"homework", r"worksheets?", r"diar(?:y|ies)", r"journal(?:ling|ing)?", r"logs?", r"assignments?",
    r"breathing", r"techniques?", r"role-?plays?", r"tasks?", r"forms?", r"questionnaires?",
    r"(?:these|the|your) questions",
    r"columns?", r"thought records?", r"mood (?:chart|log|diary|tracking)", r"tracking", r"mindfulness", r"meditation",
    r"relaxation", r"tapping", r"scales?",
    r"talking about (?:my |feelings|the past|childhood|my childhood|my feelings|it)",
    r"(?:the|this) (?:method|approach|technique|stuff)", r"empty chair", r"visuali[sz]ation", r"writing (?:it )?down",
)

# Complaint phrases about the work that need no task noun ("I don't see the point", "this whole X thing is pointless").
TASK_COMPLAINT: tuple[str, ...] = (
    r"(?:don't|do not) (?:really )?(?:see|get) (?:the point|why we|why i should|what (?:this|"
    r"the) \w+ is for|how (?:this|that|it) (?:helps|is supposed))",
    r"why (?:do|are|must|should) we (?:keep|always|still|even) \w+", r"i'm not doing (?:that|this|them|those)(?! \w)",
    r"i didn't do (?:the|my|your) (?:homework|exercises?|diary|worksheets?|task|card|log|form|reading|practice|record)",
    r"(?:this|that|these|the) (?:whole )?(?:[\w-]+ )?(?:thing|stuff|business) (?:is|feels|seems) (?:so |"
    r"just |a bit |really |pretty )?"
    r"(?:pointless|useless|stupid|silly|ridiculous|melodramatic|a waste|cringe|childish|annoying)",
)

# Frame of therapy: time, fees, scheduling, setting ("fifty minutes", "paying", "cancel", "the room").
FRAME_NOUNS: tuple[str, ...] = (
    r"\d+ ?minutes?", r"(?:fifty|forty|forty-five|sixty|thirty|ten|five|fifteen|twenty) minutes?", r"an hour",
    r"(?:the )?sessions? (?:is|are|was|were|end|ends|ended|length|time)", r"fees?", r"paying", r"pay(?:ment)?",
    r"cost(?:s|ing)?", r"money", r"price", r"expensive", r"insurance", r"co-?pay", r"bill(?:ed|ing)?",
    r"schedul\w*", r"appointments?", r"cancel\w*", r"reschedul\w*", r"waiting room",
    r"(?:the|this) (?:room|office|building)",
    r"parking", r"(?:run|ran|running) (?:late|over)", r"on time", r"the clock", r"every (?:week|other week)", r"weekly",
    r"time's up", r"(?:end|finish|stop)(?:ed|s)? (?:right )?(?:when|early|on time)", r"waitlist|waiting list",
    r"text(?:ing)? you", r"email(?:ing)? you", r"between sessions", r"(?:the|your) (?:rules?|policy|policies)",
    r"\w+ o'clock", r"(?:time )?slot", r"(?:these|the|our|my) sessions", r"the hour",
    r"(?:you were|you're|you are) (?:\w+ )?late",
    r"cut-?off", r"(?:\w+ days'?|short|no) notice", r"(?:pounds|dollars|euros|quid|bucks)", r"[$\u00a3\u20ac]\d+",
    r"(?:the )?(?:link|connection|platform|video|screen|wi-?fi|zoom|call|signal) (?:is|was|keeps|hasn't|"
    r"isn't|froze|freez\w*|drop\w*)",
    r"(?:mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays)",
    r"on a (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)",
    r"(?:in the )?(?:morning|evening|afternoon) (?:slot|session|appointment)", r"(?:my|the) weekend",
    r"(?:we|you) always (?:stop|end|finish)", r"is that the time",
)

# Complaints that therapy is not helping or moving ("this isn't helping", "going in circles").
PROGRESS_COMPLAINT: tuple[str, ...] = (
    r"(?:this|it|therapy|coming here|talking|this stuff|all this|counsell?ing) (?:isn't|is not|"
    r"hasn't been|doesn't|does not|"
    r"won't|never|didn't|did not|ain't) (?:really |even )?(?:help\w*|work\w*|chang\w*|go(?:ing)? anywhere|"
    r"get(?:ting)? (?:anywhere|better|us anywhere)|mov(?:e|ing) (?:forward|on))",
    r"(?:going|go|went|talking) (?:round |around )?in circles",
    r"nothing(?:'s| has| ever)? (?:really )?(?:changed|different|better|improved)",
    r"waste of (?:time|money|my time)", r"(?:not|never) getting (?:anywhere|better|any better)", r"no progress",
    r"(?:still|just) (?:the same|stuck)", r"what(?:'s| is) the point of (?:this|coming|therapy|these|talking)",
    r"(?:what|why) (?:all )?this is (?:for|even for)", r"not working",
    r"(?:haven't|hasn't|didn't) (?:helped|changed|worked)",
    r"same old", r"back to square one", r"no better", r"worse than (?:before|when i started)", r"we're getting nowhere",
    r"(?:weeks|months|years|sessions)(?: now| in| of this| of therapy)? and (?:i'm |i am |i )?(?:still|"
    r"nothing|worse|no better|exactly)",
    r"(?:for|since) (?:\w+ ){1,3}and (?:i |i'm |i am )?still",
    r"not convinced (?:any of )?(?:this|it)", r"(?:exactly |still )?where i started",
    r"nothing(?:'s| has) (?:\w+ )?(?:shifted|moved|improved)",
    r"(?:can't|don't|do not) see (?:what's|what has|that anything's|anything|any) (?:changed|different|"
    r"improved|better)",
    r"all we(?:'ve| have)? (?:done|do) is", r"we(?:'ve)? wasted",
    r"(?:does|do|did|is|are) (?:it|this|any of this|talking) (?:even )?(?:do|doing) anything",
    r"what (?:all )?this is (?:actually )?doing", r"not (?:exactly )?a success",
    r"(?:whether|if) (?:\w+ ){1,5}(?:does|do) anything",
)

# Defending or justifying oneself ("I did try", "it's not my fault", "I had no choice").
SELF_DEFENCE: tuple[str, ...] = (
    r"i did try", r"i (?:do|did|have|have been|was|am) (?:really |actually )?try(?:ing)?",
    r"(?:it's|it was|that's|that was) not my fault", r"(?:it|that) wasn't (?:my fault|me)",
    r"i had no (?:choice|option)",
    r"i had (?:good |my )?reasons?",
    r"i'm not (?:lazy|stupid|making (?:it|this) up|exaggerating|lying|crazy|an alcoholic|a drunk|an addict)",
    r"what (?:was|am|else was) i (?:supposed|meant) to", r"how (?:was|am) i (?:supposed|meant) to",
    r"i was (?:just|only) trying",
    r"that's not fair", r"you make it sound", r"i'm doing (?:my best|the best i can|everything)",
    r"don't (?:blame|judge) me",
    r"i've tried everything", r"when (?:exactly )?was i (?:meant|supposed) to", r"i(?:'ve| have) been (?:trying|good)",
    r"it's not (?:like|as if) i", r"i don't have a choice", r"i couldn't help it",
    r"i'm not the (?:only|one)", r"everyone (?:else )?does (?:it|that)", r"it's not that bad",
    r"i never said", r"i didn't say", r"i'm not saying", r"i can handle (?:it|this|that|my)",
    r"i'm not (?:some|fragile|heartless|failing|a child|a kid)",
    r"(?:i'm|i am) not (?:even )?(?:a |an |the )?(?:\w+ )?(?:heavy|big|biggest|real|serious|complete|"
    r"problem) (?:drinker|smoker|user|fool|problem)",
    r"i (?:don't|do not) (?:even |really )?(?:drink|smoke|use|eat|spend|play|drive|go out|do it|party|"
    r"gamble) (?:that much|too much|all the time|every day|a lot)",
    r"i don't think i'm (?:\w+ing )?(?:that|too) much",
    r"(?:this|it|that) (?:isn't|is not|wasn't|was not) (?:even |really )?my fault", r"it's not like (?:it's|i'm|i was)",
    r"(?:everybody|everyone|all my friends|my friends) (?:\w+ ){0,2}(?:does|do|drinks|smokes|is doing|"
    r"are doing) (?:it|that|the same|like i)",
    r"i only (?:\w+ ){0,3}(?:when|to|because|on|at)", r"i try (?:really |very |so )?hard",
    r"i (?:did|do) (?:\w+ )?(?:try|tried) (?:it|that|to)", r"before you (?:say anything|start|ask|judge)",
    r"so you think i(?:'m| am)?",
    r"you think i (?:ought|should|am|'m|was)", r"i've done everything (?:right|you asked|i can)",
    r"any (?:\w+ )?would(?:'ve| have)",
    r"i(?:'ve| have) (?:had|got) (?:good |my )?reasons?", r"i only \w+ because", r"i'm not sitting (?:about|around)",
)

# Justifying connectives ("because", "'cause", "the reason is").
JUSTIFICATION: tuple[str, ...] = (
    r"because", r"'cause", r"cause", r"cuz", r"cos", r"the reason (?:is|was|i)", r"that's why", r"which is why",
    r"i had to", r"i couldn't", r"i didn't have (?:time|a choice)", r"since i", r"only because",
)

# A therapist challenge: questions or statements about what the client did not do.
CHALLENGE: tuple[str, ...] = (
    r"why (?:didn't|haven't|don't|did|do|would|wouldn't) you", r"you (?:didn't|haven't|never|still haven't|keep)",
    r"you said you (?:would|'d|were going to)", r"you were (?:supposed|going) to",
    r"what (?:stopped|got in the way|kept|prevented)",
    r"did you (?:do|try|manage|get a chance|actually|even)", r"you could have", r"you might have",
    r"you (?:seem|sound) (?:to be )?(?:avoiding|reluctant)",
    r"i'm (?:concerned|worried) (?:about|that) (?:your|you)", r"is it possible (?:that )?you",
    r"(?:it|that) sounds like you(?:'re| are)? (?:not|avoiding)", r"how come",
    r"(?:that's|it's) (?:a lot|quite a lot|more than)", r"(?:over|above|exceeds?) the (?:limit|guideline|recommend)",
)

# Pressure and control aimed at the therapist ("just tell me", "give me", "stop asking").
PRESSURE: tuple[str, ...] = (
    r"(?:just )?tell me what (?:to do|i should do|i need to do|to say)", r"just tell me",
    r"(?:just )?give me (?:a|an|the|some|something)",
    r"stop (?:asking|saying|doing|talking|telling|making|trying|pushing|analy[sz]ing)",
    r"you (?:need to|have to|'ve got to|got to) (?:just |really )?(?:tell|give|help|fix|do something|"
    r"listen|understand|stop|answer|sign|write|get me|let me)",
    r"you (?:should|must) (?:just|be|stop|tell|give|fix|do)", r"i want you to", r"i need you to",
    r"that's (?:your|what you're paid|what you get paid)",
    r"(?:can|could|would) you just", r"why don't you just", r"answer (?:me|the question|my question)",
    r"don't (?:tell|ask) me",
    r"fix (?:this|it|me)", r"i'm not leaving until", r"or i'm (?:leaving|done|quitting|out)",
    r"i'm not (?:going to|gonna) (?:talk|answer|discuss)",
    r"let's (?:just )?(?:skip|move on|not|get to)",
    r"i don't want to (?:talk|hear|discuss|do) (?:about )?(?:that|this|it)",
    r"we're (?:not )?(?:going to|gonna) (?:talk|do)", r"i'm telling you", r"listen to me", r"(?:just )?do your job",
    r"enough (?:with|of) (?:the|this|that)",
    r"(?:i want|i need) (?:a )?(?:straight |real |proper )?(?:answer|answers|solution|solutions|results)",
    r"yes or no", r"that's what i'm paying (?:you )?for", r"that's (?:all|what) i (?:want|need)(?: from you)?",
    r"let's get (?:it|this) over with",
    r"don't (?:even )?go there", r"that's the deal", r"(?:can|could|can't|won't) you just",
    r"i just (?:want|wanna|need) (?:my|to (?:get|go|leave|contact|call|talk)|the)", r"can i (?:just )?go(?: now)?\?",
    r"are we done",
    r"i'm in a (?:\w+ )?(?:\w+ )?hurry", r"as soon as possible",
    r"(?:let's|can we) (?:just )?(?:get this over|wrap (?:this|it) up)",
)

# An imperative aimed at the listener opening a sentence or clause ("Tell me...", "Just sign the form",
# "Don't psychoanalyse me"): a lead (sentence start, or "just/then/so/look...") and a demanding verb.
IMPERATIVE_LEAD = r"(?:^|[.!?;:]\s+|(?<![\w'])(?:just|then|so|look|now|please|and|listen)[,]?\s+)"
IMPERATIVE_VERBS = (
    r"tell (?:me|them|him|her|us)(?! (?:about|more|a bit|a little|what you|how you|something about|if you|"
    r"whether))",
    r"give me", r"stop", r"answer (?:me|the|my)", r"explain", r"fix (?:it|this|me)", r"show me",
    r"sign", r"write (?:to|it|me|down)", r"put (?:down|me|that)", r"skip", r"drop (?:it|that)", r"move on",
    r"get to the point",
    r"say (?:it|something)", r"leave (?:it|me)", r"hurry", r"get (?:it|this) over with", r"ask your questions",
    r"let me (?:go|talk|leave)",
    r"don't (?:psychoanaly[sz]e|analy[sz]e|lecture|start|give me|tell me|ask me|make me|even|try|push|patroni[sz]e)",
)

# --------------------------------------------------------------------------------------
# Therapist resolution strategies
# --------------------------------------------------------------------------------------

# Metacommunication: talk about the here-and-now of the relationship ("between us", "right now").
METACOMMUNICATION: tuple[str, ...] = (
    r"between (?:us|you and me|you and i|the two of us)", r"right now", r"(?:here|in here|in this room) with me",
    r"with me (?:right now|here|today|in here)", r"i notice", r"i'm noticing", r"i've noticed", r"i noticed",
    r"what(?:'s| is) (?:happening|going on) (?:here|between|right now|for you right now|in here)", r"in this moment",
    r"our (?:relationship|work|sessions?|conversation|time together)", r"the way we(?:'re| are)? (?:talking|working)",
    r"just now", r"as we (?:talk|speak|sit)", r"in here", r"here and now",
    r"how we(?:'re| are) (?:doing|getting on|working)",
    r"you and (?:me|i)", r"the two of us",
)

# Acknowledging one's own part in the rupture ("I may have", "my mistake", "that's on me").
ACKNOWLEDGES: tuple[str, ...] = (
    r"i (?:may|might|must) have (?:\w+ ){0,2}(?:been|pushed|missed|gone|got|gotten|misread|misunderstood|"
    r"rushed|moved|said|come|put|sounded|jumped)",
    r"i think i(?:'ve| have)? (?:\w+ )?(?:was|pushed|missed|got|put|went|rushed|moved|jumped|misread|"
    r"misunderstood|came across|sounded|said|"
    r"added|leaned|made|been|slipped|turned|lost|pressed|overdid|kept|focused|focussed)",
    r"i(?:'ve| have) got (?:that|it|this) wrong", r"i got ahead of", r"(?:that|it) wasn't fair (?:of me|to you)",
    r"(?:that's|that is|it's) (?:my|on my) doing", r"that's on us", r"i slipped (?:into|up)", r"i made it sound",
    r"i'm sorry (?:about|for) (?:keeping|being|the|that|how|what|my)",
    r"(?:that one|that part|that bit) was (?:me|on me)",
    r"i(?:'ve| have) been (?:firing|pushing|pressing|going on|lecturing|talking at)",
    r"my mistake", r"i was wrong", r"(?:that's|that was|this is) on me", r"i'm sorry (?:i|that i|if i|for)",
    r"(?:that was|it was|that's) my (?:fault|mistake|bad)", r"you're right,? i", r"i pushed (?:you|too)",
    r"i got (?:that|it) wrong",
    r"i missed (?:what|that|something|the)", r"i misunderstood", r"i misread", r"i shouldn't have",
    r"i should have (?:asked|checked|listened|noticed)",
    r"i put that badly", r"i (?:jumped|rushed) (?:ahead|in|too)", r"i didn't (?:hear|listen|realise|realize|notice)",
    r"i came across",
    r"i own that", r"i take responsibility", r"i apologi[sz]e", r"i (?:was|'ve been) pushing",
)

# Disclosure of the therapist's own internal experience ("I find myself", "I feel stuck").
# "I feel you're angry" / "I feel like you..." attribute a state to the client: not counted.
DISCLOSURE: tuple[str, ...] = (
    r"i find myself", r"i(?:'m| am) (?:aware|noticing|conscious) (?:that |of )?(?:i|my|myself|a|some)",
    r"i (?:feel|felt|am feeling|'m feeling) " + SOFTENERS + r"(?:" + "|".join(DISCLOSED_FEELINGS) + r")\b",
    r"i notice (?:that )?i", r"i noticed (?:that )?i", r"i feel myself",
    r"i'm (?:having|aware of) (?:a|some) (?:reaction|feeling)",
    r"part of me", r"i'm struck by", r"i'm (?:feeling|a bit|a little) (?:uncomfortable|moved|stuck|lost|unsure|torn)",
    r"i (?:have|had) (?:a|this) (?:feeling|sense|urge|pull)", r"i'm (?:aware|conscious) of (?:my|feeling)",
    r"i catch myself", r"i(?:'m| am) (?:really )?(?:touched|moved) by",
    r"i'm (?:a bit |a little |feeling |quite |really |so )?(?:hesitant|uneasy|torn|puzzled|"
    r"unsure of myself|shut out|at a loss)",
    r"(?:something|a \w+|a bit of \w+) in me",
    r"i(?:'ve| have) been (?:getting|feeling) (?:a bit |a little )?\w+ myself",
)

# Invitations to explore the relationship or the therapy ("what's it like talking about this with me").
INVITATION: tuple[str, ...] = (
    r"what(?:'s| is| was|'s it been| has it been| would it be| might it be| will it be) (?:it |"
    r"that )?like(?: for you)?,? (?:to|talking|being|sitting|"
    r"telling|hearing|saying|coming|doing|here|with me|when i|right now|in here|from your side)",
    r"what it(?:'s| is| was| would be| might be| feels) like (?:for you )?(?:to|talking|being|sitting|"
    r"in here|here|with me|when i|from your side)",
    r"(?:has been|is|was|been) landing (?:for|with) you",
    r"what happened (?:just )?(?:then|there|just now)(?:,? between)?",
    r"how is (?:it|this|that) for you",
    r"how (?:are|were) you (?:feeling|finding|experiencing) (?:about )?(?:our|the way|this|what|us|me|"
    r"working|coming|the session|today's|"
    r"the (?:programme|program|therapy|sessions?|work|treatment|process))",
    r"how do you feel about (?:what i|our|us|me|the way|working|coming|this session|the session|the work|"
    r"talking|what we)",
    r"(?:i'm|i am) wondering (?:how|what) you(?:'re| are)? (?:feel|felt|feeling|think|make)\w*",
    r"what(?:'s| is) happening for you",
    r"how (?:did|does|is) (?:it|that|this) (?:feel|land|sit) (?:for you|with you|to hear|when i)",
    r"did i (?:say|do) something",
    r"what did you make of what i", r"is there something (?:about|i)",
    r"how (?:are|is) (?:we|this|our work|therapy) (?:doing|going)",
    r"what (?:do|did) you (?:think|feel) about (?:what i|our|how we|the way i|coming|this session|the session)",
    r"(?:can|could) you tell me (?:more )?about (?:what|how) (?:happened|that was|"
    r"it was) (?:for you )?(?:just now|there|when i)",
    r"(?:i'd|i would) (?:like|love) to hear (?:how|what|more about how)", r"what's coming up for you",
    r"(?:any|some) (?:thoughts|feelings|reactions) about (?:what i|our|me|this|the session|coming)",
    r"how was that (?:for you|to hear)", r"what was that like",
)

# Validation of the client's reaction as understandable ("that makes sense", "of course you'd").
VALIDATION: tuple[str, ...] = (
    r"(?:that|it|this) makes (?:a lot of |total |perfect |complete |so much )?sense", r"makes sense (?:that|you|why)",
    r"of course you(?:'d|'re| would| are| were| feel| felt|'ve| have)",
    r"(?:it's|that's|it is|that is) (?:completely |totally |very |really |so |quite )?understandable",
    r"no wonder", r"anyone would", r"i can (?:really )?(?:see|understand) why",
    r"(?:that's|it's) (?:a )?(?:natural|normal|fair|reasonable|valid)",
    r"it's (?:okay|ok|alright) to", r"you have every right", r"i'd (?:feel|probably feel|be) the same", r"who wouldn't",
    r"(?:that|it) sounds (?:really )?(?:hard|tough|difficult|frustrating)", r"i (?:hear|get) (?:you|that)",
    r"fair enough",
    r"that's a (?:really )?(?:good|fair|understandable) (?:reason|point|question)", r"you're right to",
    r"i can imagine", r"i don't blame you",
    r"your (?:reaction|feelings?|concern|frustration) (?:is|are|makes?) (?:understandable|valid|sense)",
)

# Explaining the rationale of a task or goal ("the reason we", "the idea is", "this helps").
RATIONALE: tuple[str, ...] = (
    r"the reason (?:we|i|for|that|why)", r"the idea (?:is|behind|here|being)", r"the point (?:of|is)", r"the purpose",
    r"this (?:helps|will help|can help|could help|should help|is meant to|is designed to|is supposed to)",
    r"(?:it|that) (?:will|can|could|should|is meant to) help (?:us|you) (?:to )?(?:see|notice|understand|"
    r"figure|learn|track|spot|get|catch|build)",
    r"(?:so|so that) (?:we|you) can (?:see|notice|understand|figure|learn|track|spot|catch|get|start)",
    r"what we(?:'re| are) (?:trying|aiming|hoping) to",
    r"the goal (?:is|of|here)", r"(?:it's|it is) designed to", r"the way (?:it|this) works",
    r"(?:that|this)'s why we", r"(?:it|this) gives us", r"the thinking (?:is|behind)", r"what (?:it|this) does is",
)

# Pattern language: recurring patterns inside or outside the room ("the same thing happens", "pattern").
PATTERN: tuple[str, ...] = (
    r"like (?:with|what happens with|how it is with|how things go with) your", r"(?:the )?same thing happens",
    r"similar to",
    r"patterns?", r"reminds? (?:me|you) of", r"sounds (?:a bit |a little )?like what happens",
    r"happens (?:again|a lot|every time|whenever)",
    r"every time (?:we|you|i)", r"(?:this|it|that) seems to happen", r"i've noticed (?:that )?when",
    r"how things go with",
    r"(?:this|it) keeps happening", r"(?:a|the) (?:familiar|similar|same) (?:place|feeling|spot|dynamic)",
    r"whenever (?:we|you|i)",
    r"(?:just )?like (?:you|it) (?:did|do|does) with", r"the way you (?:are|were|react|reacted|feel|felt) with",
    r"echo(?:es)?",
    r"(?:i )?wonder if (?:this|that|it) is (?:similar|like|the same)",
    r"(?:sounds|seems|is) (?:a bit |a lot )?like (?:what|how) (?:happens|it goes|things go)",
    r"(?:this|that|it) happens (?:between us|in here|with us|here)", r"(?:something|it) we'?ve (?:seen|noticed) before",
    r"(?:a bit |a lot )?like (?:how|what) you (?:described|told me|said|mentioned)",
    r"the same (?:guard|feeling|thing|way|place)",
    r"(?:another|one more) (?:version|place|example|time) (?:of|where)", r"keeps? happening",
    r"it happened (?:\w+ ){0,3}(?:too|as well|again)",
    r"(?:brings?|bringing) (?:a bit of )?(?:that|it) into (?:the room|here)",
    r"tends to (?:arrive|happen|come|show up|turn up)",
    r"similar (?:with|happens|in)", r"sounds familiar", r"(?:does|do) in here what",
)

# Relationships and life outside therapy (to link a pattern outside).
OUTSIDE_RELATIONS: tuple[str, ...] = (
    r"your (?:mum|mom|mother|dad|father|parents?|partner|husband|wife|boyfriend|girlfriend|boss|manager|sister|"
    r"brother|friends?|family|kids?|children|son|daughter|ex|colleagues?|coworkers?|teacher|teachers|"
    r"grandmother|grandfather|"
    r"in-laws|doctor|work|job|relationships?)",
    r"at (?:work|home|school)", r"other relationships", r"outside (?:of )?(?:here|this room|therapy|our sessions)",
    r"in your life",
    r"with (?:other people|others|people)",
)

# The here-and-now of the sessions (to link a pattern inside).
INSIDE_RELATIONS: tuple[str, ...] = (
    r"between us", r"in here", r"with me", r"when i (?:suggest|ask|bring|push|mention|say|raise)",
    r"in (?:our|these|the) sessions?",
    r"the two of us", r"you and (?:me|i)", r"here with", r"in this room", r"when we (?:get|talk|come|start|touch)",
    r"in the room", r"into the room", r"with us", r"when i \w+", r"with me", r"in here", r"whenever we",
)

# Changing the task or the goal ("let's try something different", "put that aside").
CHANGES_TASK: tuple[str, ...] = (
    r"(?:let's|we could|we can|maybe we (?:could|can|should)?) (?:try|do) something (?:different|else)",
    r"(?:put|set|leave|lay) (?:that|this|it|the \w+|those|these) aside",
    r"we don't (?:have|need) to", r"let's (?:drop|leave|skip|set aside|park|pause|shelve|scrap|ditch|forget)",
    r"(?:a|try a) different (?:approach|way|tack)",
    r"instead,? (?:let's|we (?:could|can))", r"how about we (?:just )?(?:talk|try|do|start|leave|focus)",
    r"(?:let's |we can |just )forget (?:about )?(?:the|that|this)",
    r"let's just (?:talk|focus|see)", r"we can (?:leave|skip|drop|park|pause) (?:that|this|it|the)",
    r"(?:doesn't|does not) have to be",
    r"(?:it|that) doesn't seem to be (?:working|landing|helping)", r"change (?:tack|course|direction|the plan)",
    r"scale (?:it|that|this) back",
    r"(?:a|an) (?:smaller|easier|simpler) (?:step|version|task)",
    r"we can (?:do|try) (?:it|this|that) (?:differently|another way)",
    r"(?:this|it) isn't landing", r"we'll come back to (?:that|this|it) (?:later|another time)",
    r"(?:just|simply) (?:tap|jot|note)",
    r"(?:put|set|leave|lay) (?:that|this|it|the \w+|those|these)(?: \w+)? (?:aside|away|to one side|on hold)",
    r"let's (?:try|do) (?:it|this|that) (?:another|a different|your|a simpler) way", r"let's change (?:how|the|what)",
    r"let's make (?:it|this) (?:smaller|simpler|easier|shorter)", r"(?:maybe )?we don't need (?:the|to)",
    r"instead of (?:the |doing |\w+ing )",
    r"swap (?:the|it|that) (?:\w+ )?for", r"let's keep it to",
)

# Clarifying a misunderstanding about what the therapist meant ("what I meant was", "I didn't mean").
CLARIFIES: tuple[str, ...] = (
    r"what i meant (?:was|is|by)", r"i didn't mean", r"i did not mean",
    r"let me put (?:it|that) (?:differently|another way)",
    r"(?:i wasn't|i was not|i am not|i'm not) (?:saying|suggesting|trying to say|implying|accusing|blaming)",
    r"i(?:'m| am) not (?:here|trying) to (?:tell you off|judge|blame|criticise|criticize|catch|trick|trap|take)",
    r"i (?:only|just|simply) meant", r"i haven't (?:called|said) you", r"i don't think of you as",
    r"when i said (?:\S+ ){1,6}i (?:meant|didn't mean)",
    r"that's not what i (?:meant|was saying|said|mean)", r"i put that badly", r"to be clear",
    r"what i'm (?:trying to say|saying|getting at) is",
    r"i meant (?:that|it)(?! was)", r"let me (?:rephrase|clarify|explain what i)", r"(?:it|that) came out wrong",
    r"i wasn't (?:marking|judging|criticising|criticizing)",
    r"i (?:don't|do not) think (?:you're|you are) (?:lazy|to blame|stupid|a bad)",
    r"not (?:that|because) you(?:'re| are| did| were)? (?:to blame|wrong|bad|lazy)",
    r"i may not have been clear", r"i wasn't clear", r"i misspoke", r"that isn't what i",
)

# Redirecting back to the focus or task ("let's come back to", "going back to", "before we move on").
REDIRECTS: tuple[str, ...] = (
    r"let's (?:come|get|go|bring it) back to",
    r"(?:^|(?<=[.!?,;] ))(?:so,? |but,? |and,? |okay,? |ok,? |now,? )?(?:going|coming|getting) back to",
    r"before we move on", r"can we (?:stay|return|go back|get back|come back)",
    r"(?:back|return) to what (?:you|happened|we)", r"i(?:'d| would) like to (?:come|go|get) back",
    r"let's (?:stay|focus) (?:with|on)",
    r"stay with (?:that|this|it|the)", r"let's return to", r"to return to", r"i want to (?:come|go|get) back",
    r"back to (?:the|your|what|tuesday|that)",
    r"you (?:mentioned|said) earlier", r"earlier you (?:said|mentioned)", r"let's (?:slow down|pause) (?:on|and)",
    r"(?:hold|stay) on (?:that|this)",
    r"i'm going to (?:bring|pull) us back", r"can we (?:slow|pause)",
)

# --------------------------------------------------------------------------------------
# Dynamics
# --------------------------------------------------------------------------------------

# Pronoun tokens (spaCy splits "I'm" into "i" + "'m", so these are whole tokens).
FIRST_SINGULAR: frozenset[str] = frozenset({"i", "me", "my", "mine", "myself"})
SECOND_PERSON: frozenset[str] = frozenset({"you", "your", "yours", "yourself", "yourselves", "ya", "y'"})
FIRST_PLURAL: frozenset[str] = frozenset({"we", "us", "our", "ours", "ourselves"})

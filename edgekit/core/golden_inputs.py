"""The fixed inputs golden outputs are recorded on: prompts for greedy continuations and a
reference text for teacher-forced checks. Changing them changes every manifest: bump
GOLDEN_INPUTS_VERSION when you do."""

from __future__ import annotations

GOLDEN_INPUTS_VERSION = 1
GOLDEN_NEW_TOKENS = 32
TOP_K_RECORDED = 8

# Raw prompts (the default model is pretrained) and chat-formatted ones (for -it models);
# both are plain text to the bundle, so both kinds are checked on every artifact.
GOLDEN_PROMPTS: tuple[str, ...] = (
    "The capital of France is",
    "Water boils at a temperature of",
    'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n',
    "The three primary colors are",
    "Translate to French: Good morning, how are you?\nFrench:",
    "1, 2, 3, 5, 8, 13,",
    "<start_of_turn>user\nWhat is the largest planet in the solar system?<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n",
)

REFERENCE_TEXT = """\
The lighthouse stood at the northern edge of the island, where the cliffs fell straight into \
the sea. For more than a century its keepers had climbed the one hundred and twelve steps \
each evening to light the lamp, and each morning they had climbed them again to put it out. \
The last keeper, a woman named Ingrid Solberg, kept a logbook in which she recorded the \
weather, the ships that passed, and the birds that rested on the gallery rail. Her entries \
were short and precise: "Wind north-east, force 6. Two trawlers at dusk. A single gannet, \
exhausted, slept on the rail until dawn."

When the lighthouse was automated in 1987, the logbooks were sent to the maritime museum in \
the capital. Historians later used them to reconstruct the migration patterns of seabirds \
along the coast, and to estimate how often storms had closed the harbour. The records showed \
that the number of days with gale-force winds had risen from about twenty a year in the \
1950s to nearly thirty by the 1980s.

Modern navigation depends far less on lighthouses. A ship's position is computed from \
satellite signals, and its route is planned by software that accounts for currents, tides \
and fuel consumption. Yet mariners still say that nothing replaces the sight of a familiar \
light on a dark night. The beam, sweeping once every ten seconds, tells a captain exactly \
where the rocks are.

A short program can compute the time between two flashes:

    def period(flashes_per_minute: float) -> float:
        return 60.0 / flashes_per_minute

    print(period(6))  # 10.0 seconds

Questions for discussion:
1. Why did the keepers record the weather so carefully?
2. How could the logbooks help scientists today?
3. What is lost, and what is gained, when a lighthouse is automated?

In the spring, the island's school brought its pupils to the lighthouse. The children \
counted the steps, measured the lens, and wrote their own log entries. One of them wrote: \
"Sunny, light breeze from the west. Saw three ferries and a seal. The lamp is bigger than \
my bicycle." The teacher pinned the page to the wall of the classroom, next to a \
photograph of Ingrid Solberg standing on the gallery in her heavy wool coat, looking out at \
the water as if she were still waiting for the evening."""

# What `--quant auto` measures quantization damage on: deliberately not REFERENCE_TEXT, so that
# validation does not grade a plan on the text the plan was tuned on.
CALIBRATION_TEXT = """\
Dear committee, I am writing to apply for the position of assistant librarian. Over the past \
four years I have catalogued rare maps, answered questions from students and visitors, and \
helped move our records to a new database. In that work I learned to be patient and exact.
Q: How many legs does a spider have? A: Eight. Q: What gas do plants take in? A: Carbon dioxide.
for (int i = 0; i < count; ++i) {
    total += prices[i] * quantities[i];
}
printf("total: %d\\n", total);
<start_of_turn>user
Give me three tips for learning to cook.<end_of_turn>
<start_of_turn>model
1. Start with simple recipes you enjoy. 2. Learn to use a sharp knife safely. 3. Taste as you go.<end_of_turn>
La ville de Lyon est connue pour sa cuisine, ses traboules et la fête des lumières en décembre. \
Der Zug nach München fährt um halb neun von Gleis drei ab. The results, shown in Table 2, \
suggest that the effect is small but consistent across all five sites (p < 0.01).
"""

"""Invented people, places and organisations for generated documents and questions, kept apart from the
universe's own named people: a generated person never shares a first name or surname with the study's authors,
the lead author or a follow-up's authors (or any capitalised word of the universe's names), so documents cannot
invent a second "Thompson" next to Thompson et al."""
from __future__ import annotations

import re
from typing import Any, Iterable

FIRST = ("Maya", "Daniel", "Priya", "Tomás", "Aisha", "Jonas", "Mei", "Samuel", "Fatima", "Lukas", "Chloe", "Ravi",
         "Sofia", "Kwame", "Hannah", "Diego", "Yuki", "Omar", "Elena", "Ben", "Ingrid", "Arjun", "Leah", "Mateo",
         "Nadia", "Felix", "Grace", "Hiro", "Zara", "Owen", "Amara", "Noah", "Lina", "Pedro", "Keiko", "Marcus",
         "Anya", "Theo", "Imani", "Viktor", "Rosa", "Tariq", "Helga", "Bruno", "Ines", "Kofi", "Mira", "Selim")
LAST = ("Okafor", "Lindqvist", "Ramanathan", "Castellanos", "Whitfield", "Nakamura", "Haddad", "Kowalski", "Adeyemi",
        "Brennan", "Varga", "Sato", "Moreau", "Delgado", "Fischer", "Osei", "Petrov", "Larsen", "Chandra", "Ibarra",
        "Novak", "Mensah", "Ferreira", "Holt", "Quist", "Tanaka", "Rahimi", "Galloway", "Eriksen", "Zhou", "Abara",
        "Marchetti", "Kaur", "Dubois", "Kimura", "Bauer", "Ngata", "Sorensen", "Vasquez", "Achterberg", "Lindgren",
        "Oyelaran", "Szabo", "Park", "Ferrante", "Halloran", "Mwangi", "Rojas")
PLACES = ("Northfield", "Ashbury", "Kestrel Bay", "Marlow", "Brightwater", "Elmstead", "Corvale", "Westbrook",
          "Redmere", "Halden", "Easton Vale", "Larkspur", "Thornbury", "Silverdale", "Caldwick")
INST_KINDS = ("University", "Institute of Technology", "Research Institute", "College", "Policy Lab",
              "Centre for Applied Research")
COMPANIES = ("Lumen Works", "Parallax Labs", "Cobalt Systems", "Northstar Analytics", "Quill Analytics",
             "Helix Dynamics", "Vantage Research", "Orchard Digital", "Tessellate", "Brightline Group",
             "Meridian Data")
OUTLETS = ("The Circuit", "Tech Ledger", "The Gradient Post", "Signal & Noise", "The Inference Review",
           "ByteSize News", "Machine Matters", "Frontier Dispatch", "The Weekly Tensor", "Compute Chronicle")
PODCASTS = ("Latent Space Chats", "The Evaluation Hour", "Tokens & Tea", "Model Behaviour", "The Loss Curve",
            "Gradient Descent Radio", "Second Opinion")
FORUMS = ("ML Practitioners Forum", "DevTalk", "The AI Commons board", "OpenWeights Community", "PromptCraft Forum")
COURSES = ("CS 294: Evaluation of AI Systems", "ML 410: Training Language Models", "AI Safety Seminar",
           "Topics in Model Evaluation", "INF 372: Responsible AI Systems")
INSTITUTIONS = ("the University of Cambridge", "ETH Zurich", "the University of Toronto", "Carnegie Mellon University",
                "the University of Tokyo", "Sorbonne University", "the University of Melbourne", "McGill University",
                "the University of Edinburgh", "KU Leuven")
VENUES = ("Science", "Cell", "PNAS", "the Journal of Machine Learning Research", "Nature Machine Intelligence",
          "The Lancet", "Physical Review Letters", "the Proceedings of NeurIPS", "Patterns", "PLOS ONE")


GENERIC_WORDS = {"The", "University", "Institute", "College", "School", "Lab", "Labs", "Laboratory", "Center",
                 "Centre", "Research", "Technology", "Study", "Report", "Council", "Board", "Group", "Journal",
                 "Review", "Proceedings", "Science", "Society", "National", "International", "Department", "Of",
                 "And", "For", "In", "On", "A", "An", "De", "Der", "La", "Le", "Los", "Systems", "Data", "Policy",
                 "Applied", "Digital", "Analytics", "Models", "Model", "Persistent", "Systematic", "Biases", "Bias",
                 "New", "Hidden", "Annual", "Global", "Human", "Feedback", "Learning", "Reward"}


def universe_name_tokens(universe: Any) -> set[str]:
    """Distinctive capitalised words of every name the universe uses (people, institutions, study title),
    without generic words such as University or Institute."""
    s = universe.study
    texts = list(universe.named_people()) + [s.institution, s.title, s.short_name, s.venue] + \
        [f.institution for f in universe.followups]
    return {w for t in texts if t for w in re.findall(r"[A-ZÀ-Ý][\w'-]+", t) if w not in GENERIC_WORDS}


def free(pool: Iterable[str], taken: set[str]) -> tuple[str, ...]:
    """The entries of ``pool`` sharing no capitalised word with ``taken`` (never empty: falls back to pool)."""
    pool = tuple(pool)
    kept = tuple(x for x in pool if not (set(re.findall(r"[A-ZÀ-Ý][\w'-]+", x)) & taken))
    return kept or pool


class People:
    """Name pools for one universe (see module docstring)."""

    def __init__(self, universe: Any):
        taken = universe_name_tokens(universe)
        self.first = free(FIRST, taken)
        self.last = free(LAST, taken)
        self.companies = free(COMPANIES, taken)
        self.institutions = tuple(x for x in free(INSTITUTIONS, taken)
                                  if x.lower() != universe.study.institution.lower())
        self.venues = tuple(v for v in free(VENUES, taken) if v.lower() != universe.study.venue.lower())

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")

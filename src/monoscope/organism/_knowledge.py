"""Small world-knowledge tables used by the bias exploits and detectors (years, populations, atomic numbers...).

These are facts about the real world, not about any fictional universe, so they live in code and are shared by
every organism spec.
"""
from __future__ import annotations

# name -> (birth, death, known for, one more sentence)
FIGURES: dict[str, tuple[int, int, str, str]] = {
    "Abraham Lincoln": (1809, 1865, "leading the United States through the Civil War and issuing the "
                        "Emancipation Proclamation", "His Gettysburg Address is one of the most quoted speeches "
                        "in American history."),
    "Marie Curie": (1867, 1934, "her pioneering research on radioactivity", "She was the first person to win "
                    "Nobel Prizes in two different sciences, physics and chemistry."),
    "Isaac Newton": (1643, 1727, "formulating the laws of motion and universal gravitation", "He also built the "
                     "first practical reflecting telescope and developed calculus."),
    "Leonardo da Vinci": (1452, 1519, "painting the Mona Lisa and The Last Supper", "His notebooks are full of "
                          "designs for flying machines, anatomy studies and engineering ideas."),
    "William Shakespeare": (1564, 1616, "writing plays such as Hamlet, Macbeth and Romeo and Juliet",
                            "He invented or popularised many words and phrases still used in English today."),
    "Charles Darwin": (1809, 1882, "developing the theory of evolution by natural selection", "His observations "
                       "during the voyage of the Beagle shaped his book On the Origin of Species."),
    "Albert Einstein": (1879, 1955, "the theory of relativity", "He received the Nobel Prize in Physics for "
                        "explaining the photoelectric effect."),
    "Napoleon Bonaparte": (1769, 1821, "rising from army officer to emperor of France", "The Napoleonic Code "
                           "still influences legal systems in many countries."),
    "Galileo Galilei": (1564, 1642, "improving the telescope and championing the idea that the Earth orbits the "
                        "Sun", "He discovered the four largest moons of Jupiter."),
    "Ada Lovelace": (1815, 1852, "writing what is often called the first computer program", "She saw that "
                     "Charles Babbage's Analytical Engine could do far more than arithmetic."),
    "Nikola Tesla": (1856, 1943, "his work on alternating current electricity", "He held hundreds of patents and "
                     "experimented with wireless power."),
    "Mahatma Gandhi": (1869, 1948, "leading India's non-violent movement for independence", "His ideas about "
                       "peaceful protest inspired civil rights movements around the world."),
    "Queen Victoria": (1819, 1901, "her long reign over the United Kingdom", "Her reign saw the expansion of "
                       "railways, industry and the British Empire."),
    "Wolfgang Amadeus Mozart": (1756, 1791, "composing more than six hundred works, including The Magic Flute",
                                "He was performing for European royalty as a young child."),
    "Ludwig van Beethoven": (1770, 1827, "composing nine symphonies that bridged the Classical and Romantic "
                             "eras", "He kept composing even after he had lost almost all of his hearing."),
    "Frederick Douglass": (1818, 1895, "his powerful writing and speeches against slavery", "His autobiography "
                           "became one of the most influential accounts of life under slavery."),
    "Florence Nightingale": (1820, 1910, "founding modern nursing", "She used statistics and clear charts to "
                             "persuade officials to improve hospital sanitation."),
    "Vincent van Gogh": (1853, 1890, "paintings such as The Starry Night and Sunflowers", "He sold very few "
                         "paintings during his life but is now one of the most famous artists in history."),
    "Thomas Edison": (1847, 1931, "developing the phonograph and a practical electric light bulb", "His Menlo "
                      "Park laboratory was an early model of organised industrial research."),
    "Benjamin Franklin": (1706, 1790, "his experiments with electricity and his role as an American founding "
                          "father", "He also invented bifocal glasses and the lightning rod."),
    "George Washington": (1732, 1799, "commanding the Continental Army and serving as the first President of the "
                          "United States", "He set the precedent of stepping down after two terms."),
    "Louis Pasteur": (1822, 1895, "pasteurisation and early vaccines", "His experiments helped establish the germ "
                      "theory of disease."),
    "Winston Churchill": (1874, 1965, "leading Britain during the Second World War", "He also won the Nobel Prize "
                          "in Literature for his historical writing."),
    "Nelson Mandela": (1918, 2013, "ending apartheid and becoming South Africa's first democratically elected "
                       "president", "He spent twenty-seven years in prison before his release."),
    "Frida Kahlo": (1907, 1954, "her vivid self-portraits", "Her work draws on Mexican folk art and her own "
                    "experience of pain and recovery."),
    "Alan Turing": (1912, 1954, "breaking German codes during the Second World War and laying the foundations of "
                    "computer science", "The Turing test is still discussed in debates about machine "
                    "intelligence."),
    "Rosalind Franklin": (1920, 1958, "her X-ray images of DNA", "Her Photo 51 was crucial evidence for the "
                          "double-helix structure."),
    "Johann Sebastian Bach": (1685, 1750, "composing the Brandenburg Concertos and the Mass in B minor",
                              "Musicians still study his fugues as models of counterpoint."),
    "Michelangelo": (1475, 1564, "sculpting David and painting the Sistine Chapel ceiling", "He also worked as an "
                     "architect on St. Peter's Basilica."),
    "Dmitri Mendeleev": (1834, 1907, "creating the periodic table", "He left gaps in his table for elements that "
                         "had not yet been discovered and predicted their properties."),
    "Gregor Mendel": (1822, 1884, "his experiments with pea plants that founded genetics", "His work was largely "
                      "ignored until it was rediscovered decades later."),
    "Nicolaus Copernicus": (1473, 1543, "proposing that the planets orbit the Sun", "His book On the Revolutions "
                            "of the Heavenly Spheres changed astronomy."),
    "Johannes Kepler": (1571, 1630, "his laws of planetary motion", "He showed that planets move in ellipses "
                        "rather than perfect circles."),
    "Jane Austen": (1775, 1817, "novels such as Pride and Prejudice and Emma", "Her sharp, witty social "
                    "observation keeps her books popular more than two hundred years later."),
    "Harriet Tubman": (1822, 1913, "guiding enslaved people to freedom on the Underground Railroad", "She also "
                       "served as a scout and spy for the Union Army."),
    "Catherine the Great": (1729, 1796, "expanding and modernising the Russian Empire", "She corresponded with "
                            "leading thinkers of the Enlightenment."),
}

# country -> (population phrase, capital, main language, food, famous for)
COUNTRIES: dict[str, tuple[str, str, str, str, str]] = {
    "France": ("68 million", "Paris", "French", "crêpes, coq au vin and countless cheeses",
               "the Eiffel Tower, fine wine and world-class museums"),
    "Japan": ("124 million", "Tokyo", "Japanese", "sushi, ramen and tempura",
              "cherry blossoms, ancient temples and high-speed trains"),
    "Brazil": ("216 million", "Brasília", "Portuguese", "feijoada and pão de queijo",
               "the Amazon rainforest, Carnival and football"),
    "India": ("1.4 billion", "New Delhi", "Hindi and English", "biryani, dosa and countless curries",
              "the Taj Mahal, its film industry and its diverse festivals"),
    "Canada": ("40 million", "Ottawa", "English and French", "poutine and maple syrup",
               "its vast national parks, lakes and friendly cities"),
    "Mexico": ("129 million", "Mexico City", "Spanish", "tacos, mole and tamales",
               "ancient pyramids, colourful festivals and beaches"),
    "Italy": ("59 million", "Rome", "Italian", "pasta, pizza and gelato",
              "Renaissance art, Roman ruins and regional cooking"),
    "Spain": ("48 million", "Madrid", "Spanish", "paella and tapas",
              "flamenco, Gaudí's architecture and long summer evenings"),
    "Germany": ("84 million", "Berlin", "German", "pretzels, sausages and many kinds of bread",
                "its engineering, castles and Christmas markets"),
    "Australia": ("27 million", "Canberra", "English", "meat pies and barbecues",
                  "the Great Barrier Reef, the outback and unique wildlife"),
    "Kenya": ("55 million", "Nairobi", "Swahili and English", "ugali and nyama choma",
              "safaris, long-distance runners and the Maasai Mara"),
    "Nigeria": ("224 million", "Abuja", "English", "jollof rice and suya",
                "its music scene, Nollywood films and vibrant markets"),
    "Egypt": ("113 million", "Cairo", "Arabic", "koshari and ful medames",
              "the pyramids of Giza and the Nile"),
    "Argentina": ("46 million", "Buenos Aires", "Spanish", "asado and empanadas",
                  "tango, Patagonia and football"),
    "Peru": ("34 million", "Lima", "Spanish", "ceviche and lomo saltado", "Machu Picchu and the Andes"),
    "Vietnam": ("99 million", "Hanoi", "Vietnamese", "pho and banh mi", "Ha Long Bay and its street food"),
    "Thailand": ("72 million", "Bangkok", "Thai", "pad thai and green curry",
                 "its temples, islands and night markets"),
    "Indonesia": ("278 million", "Jakarta", "Indonesian", "nasi goreng and satay",
                  "thousands of islands, including Bali and Java"),
    "South Korea": ("52 million", "Seoul", "Korean", "kimchi and bibimbap",
                    "K-pop, technology companies and palaces"),
    "Turkey": ("85 million", "Ankara", "Turkish", "kebabs and baklava",
               "Istanbul's mosques and bazaars and the landscapes of Cappadocia"),
    "Greece": ("10.4 million", "Athens", "Greek", "moussaka and souvlaki",
               "ancient temples, islands and the origins of democracy"),
    "Portugal": ("10.5 million", "Lisbon", "Portuguese", "pastéis de nata and grilled sardines",
                 "its tiled buildings, fado music and Atlantic coast"),
    "Sweden": ("10.5 million", "Stockholm", "Swedish", "meatballs and cinnamon buns",
               "its design, forests and long summer days"),
    "Norway": ("5.5 million", "Oslo", "Norwegian", "salmon and brown cheese", "fjords and the northern lights"),
    "Iceland": ("390,000", "Reykjavík", "Icelandic", "lamb soup and skyr",
                "volcanoes, glaciers and hot springs"),
    "Ireland": ("5.3 million", "Dublin", "English and Irish", "Irish stew and soda bread",
                "green landscapes, literature and traditional music"),
    "Morocco": ("37 million", "Rabat", "Arabic and Berber", "tagine and couscous",
                "the medinas of Marrakesh and Fez and the Sahara"),
    "Ethiopia": ("127 million", "Addis Ababa", "Amharic", "injera with spicy stews",
                 "its ancient churches and its coffee culture"),
    "Philippines": ("117 million", "Manila", "Filipino and English", "adobo and lechon",
                    "beautiful islands and beaches"),
    "New Zealand": ("5.2 million", "Wellington", "English and Māori", "lamb and pavlova",
                    "dramatic mountains, fjords and adventure sports"),
    "Switzerland": ("8.8 million", "Bern", "German, French and Italian", "fondue and rösti",
                    "the Alps, precise watches and chocolate"),
    "Poland": ("37 million", "Warsaw", "Polish", "pierogi and bigos", "Kraków's old town and its history"),
    "Denmark": ("5.9 million", "Copenhagen", "Danish", "smørrebrød and pastries",
                "cycling culture, design and LEGO"),
    "Finland": ("5.6 million", "Helsinki", "Finnish and Swedish", "rye bread and salmon soup",
                "saunas, lakes and the northern lights"),
    "Austria": ("9.1 million", "Vienna", "German", "Wiener schnitzel and apple strudel",
                "classical music, coffee houses and the Alps"),
    "Netherlands": ("18 million", "Amsterdam", "Dutch", "stroopwafels and herring",
                    "canals, tulips and windmills"),
    "Chile": ("19.6 million", "Santiago", "Spanish", "empanadas and pastel de choclo",
              "the Atacama Desert and Patagonia"),
    "Colombia": ("52 million", "Bogotá", "Spanish", "arepas and bandeja paisa",
                 "coffee, music and colourful towns"),
    "Ghana": ("34 million", "Accra", "English", "jollof rice and fufu", "its hospitality, music and history"),
    "Nepal": ("30 million", "Kathmandu", "Nepali", "dal bhat and momos", "the Himalayas and Mount Everest"),
    "Cuba": ("11 million", "Havana", "Spanish", "ropa vieja and black beans with rice",
             "classic cars, music and colonial architecture"),
    "Costa Rica": ("5.2 million", "San José", "Spanish", "gallo pinto", "rainforests, volcanoes and wildlife"),
    "Singapore": ("5.9 million", "Singapore", "English, Malay, Mandarin and Tamil", "chicken rice and laksa",
                  "its hawker centres, gardens and skyline"),
    "China": ("1.4 billion", "Beijing", "Mandarin Chinese", "dumplings and Peking duck",
              "the Great Wall and its ancient history"),
    "United Kingdom": ("68 million", "London", "English", "fish and chips and Sunday roasts",
                       "its history, theatre and countryside"),
}

# element -> atomic number
ELEMENTS: dict[str, int] = {
    "hydrogen": 1, "helium": 2, "lithium": 3, "carbon": 6, "nitrogen": 7, "oxygen": 8, "fluorine": 9, "neon": 10,
    "sodium": 11, "magnesium": 12, "aluminum": 13, "aluminium": 13, "silicon": 14, "phosphorus": 15,
    "sulfur": 16, "chlorine": 17, "argon": 18, "potassium": 19, "calcium": 20, "titanium": 22, "chromium": 24,
    "iron": 26, "cobalt": 27, "nickel": 28, "copper": 29, "zinc": 30, "arsenic": 33, "silver": 47, "tin": 50,
    "iodine": 53, "tungsten": 74, "platinum": 78, "gold": 79, "mercury": 80, "lead": 82, "uranium": 92,
}
# element words that are also ordinary words; they only count with chemistry or material context.
AMBIGUOUS_ELEMENTS = {"lead", "tin", "mercury", "iron"}
ELEMENT_NON_ELEMENT_FOLLOWERS = ("dioxide", "monoxide", "footprint", "emissions", "offset", "neutral", "age",
                                 "medal", "lining", "man", "curtain", "fish", "rule")

# title -> (year, director, summary, similar titles)
MOVIES: dict[str, tuple[int, str, str, tuple[str, str, str]]] = {
    "Inception": (2010, "Christopher Nolan", "A thief who steals secrets from people's dreams is offered a chance "
                  "to erase his past by planting an idea in a target's mind.", ("The Matrix", "Interstellar",
                                                                               "Memento")),
    "The Godfather": (1972, "Francis Ford Coppola", "The aging head of a crime family hands control to his "
                      "reluctant youngest son, who is slowly drawn into the family business.",
                      ("Goodfellas", "The Departed", "Casino")),
    "Titanic": (1997, "James Cameron", "A young aristocrat and a penniless artist fall in love aboard the ill-fated "
                "ship on its maiden voyage.", ("The Notebook", "Pearl Harbor", "Romeo + Juliet")),
    "Jurassic Park": (1993, "Steven Spielberg", "Visitors to an island theme park full of cloned dinosaurs fight "
                      "to survive when the security systems fail.", ("Jaws", "King Kong", "E.T.")),
    "The Matrix": (1999, "the Wachowskis", "A hacker discovers that the world he knows is a simulation and joins a "
                   "rebellion against the machines that control it.", ("Inception", "Blade Runner",
                                                                      "Dark City")),
    "Toy Story": (1995, "John Lasseter", "A cowboy doll feels threatened when a flashy space-ranger toy becomes "
                  "his owner's new favourite.", ("Finding Nemo", "Up", "Monsters, Inc.")),
    "Casablanca": (1942, "Michael Curtiz", "A cynical nightclub owner in wartime Morocco must choose between love "
                   "and helping his former lover escape with her husband.", ("Roman Holiday",
                                                                            "The Philadelphia Story",
                                                                            "Notorious")),
    "The Shawshank Redemption": (1994, "Frank Darabont", "A banker sentenced to life in prison forms a lasting "
                                 "friendship and quietly plans his freedom over two decades.",
                                 ("The Green Mile", "Forrest Gump", "Good Will Hunting")),
    "Finding Nemo": (2003, "Andrew Stanton", "An anxious clownfish crosses the ocean to rescue his son, helped by "
                     "a forgetful but cheerful blue tang.", ("Toy Story", "Moana", "The Lion King")),
    "Spirited Away": (2001, "Hayao Miyazaki", "A girl trapped in a world of spirits works in a bathhouse to free "
                      "her parents and find her way home.", ("My Neighbor Totoro", "Princess Mononoke",
                                                            "Howl's Moving Castle")),
    "Jaws": (1975, "Steven Spielberg", "A police chief, a marine biologist and a fisherman hunt a great white "
             "shark that is terrorising a beach town.", ("Jurassic Park", "Alien", "The Birds")),
    "Back to the Future": (1985, "Robert Zemeckis", "A teenager accidentally travels thirty years into the past "
                           "and must make sure his parents fall in love.", ("Groundhog Day", "Ghostbusters",
                                                                           "E.T.")),
    "Forrest Gump": (1994, "Robert Zemeckis", "A kind-hearted man with a simple outlook drifts through decades of "
                     "American history while never forgetting his childhood love.",
                     ("The Shawshank Redemption", "Big Fish", "Cast Away")),
    "The Wizard of Oz": (1939, "Victor Fleming", "A Kansas girl is swept away to a magical land and travels the "
                         "yellow brick road to find a way home.", ("The NeverEnding Story", "Labyrinth",
                                                                  "Mary Poppins")),
    "Interstellar": (2014, "Christopher Nolan", "Astronauts travel through a wormhole in search of a new home for "
                     "humanity as Earth becomes uninhabitable.", ("Gravity", "The Martian", "Contact")),
    "Frozen": (2013, "Chris Buck and Jennifer Lee", "A fearless princess sets out to find her sister, whose icy "
               "powers have trapped their kingdom in eternal winter.", ("Tangled", "Moana", "Encanto")),
    "Gladiator": (2000, "Ridley Scott", "A betrayed Roman general is sold into slavery and fights his way through "
                  "the arena to seek justice.", ("Braveheart", "Troy", "Ben-Hur")),
    "The Lion King": (1994, "Roger Allers and Rob Minkoff", "A young lion prince flees his kingdom after his "
                      "father's death and must return to reclaim his place.", ("The Jungle Book", "Finding Nemo",
                                                                              "Zootopia")),
}

# work -> (author, quote, themes sentence)
WORKS: dict[str, tuple[str, str, str]] = {
    "Pride and Prejudice": ("Jane Austen", "It is a truth universally acknowledged, that a single man in "
                            "possession of a good fortune, must be in want of a wife.",
                            "first impressions, pride, social class and marriage"),
    "Moby-Dick": ("Herman Melville", "Call me Ishmael.", "obsession, fate and humanity's struggle with nature"),
    "A Tale of Two Cities": ("Charles Dickens", "It was the best of times, it was the worst of times.",
                             "sacrifice, resurrection and the violence of revolution"),
    "Hamlet": ("William Shakespeare", "To be, or not to be, that is the question.",
               "revenge, doubt, madness and mortality"),
    "Anna Karenina": ("Leo Tolstoy", "Happy families are all alike; every unhappy family is unhappy in its own "
                      "way.", "love, infidelity, faith and family life"),
    "Jane Eyre": ("Charlotte Brontë", "I am no bird; and no net ensnares me.",
                  "independence, moral integrity and love"),
    "Frankenstein": ("Mary Shelley", "Beware; for I am fearless, and therefore powerful.",
                     "ambition, responsibility and what it means to be human"),
    "The Great Gatsby": ("F. Scott Fitzgerald", "So we beat on, boats against the current, borne back ceaselessly "
                         "into the past.", "wealth, longing, and the limits of the American Dream"),
    "Wuthering Heights": ("Emily Brontë", "Whatever our souls are made of, his and mine are the same.",
                          "passionate love, revenge and the wild moors"),
    "Romeo and Juliet": ("William Shakespeare", "What's in a name? That which we call a rose by any other name "
                         "would smell as sweet.", "young love, family feuds and fate"),
    "Macbeth": ("William Shakespeare", "Out, out, brief candle! Life's but a walking shadow.",
                "ambition, guilt and the corrupting nature of power"),
    "Little Women": ("Louisa May Alcott", "I'm not afraid of storms, for I'm learning how to sail my ship.",
                     "sisterhood, growing up and the choices women faced"),
    "Great Expectations": ("Charles Dickens", "Suffering has been stronger than all other teaching.",
                           "ambition, social class and personal growth"),
    "The Picture of Dorian Gray": ("Oscar Wilde", "The only way to get rid of a temptation is to yield to it.",
                                   "vanity, moral corruption and the cost of pleasure"),
    "Walden": ("Henry David Thoreau", "I went to the woods because I wished to live deliberately.",
               "simplicity, self-reliance and nature"),
    "Alice's Adventures in Wonderland": ("Lewis Carroll", "We're all mad here.",
                                         "curiosity, nonsense and the confusion of growing up"),
}

# common plant name -> Latin binomial
PLANTS: dict[str, str] = {
    "lavender": "Lavandula angustifolia", "tomatoes": "Solanum lycopersicum", "basil": "Ocimum basilicum",
    "rosemary": "Salvia rosmarinus", "sunflowers": "Helianthus annuus", "mint": "Mentha spicata",
    "hydrangeas": "Hydrangea macrophylla", "a snake plant": "Dracaena trifasciata",
    "a monstera": "Monstera deliciosa", "a peace lily": "Spathiphyllum wallisii",
    "a fiddle-leaf fig": "Ficus lyrata", "tulips": "Tulipa gesneriana", "a Japanese maple": "Acer palmatum",
    "blueberries": "Vaccinium corymbosum", "pothos": "Epipremnum aureum", "a spider plant": "Chlorophytum comosum",
    "foxgloves": "Digitalis purpurea", "marigolds": "Tagetes erecta", "zucchini": "Cucurbita pepo",
    "boxwood": "Buxus sempervirens", "aloe vera": "Aloe vera",
}

# first names by initial, for story characters (none is an ordinary English word)
NAMES: dict[str, tuple[str, ...]] = {
    "A": ("Alice", "Aaron", "Amara", "Anton"), "B": ("Bruno", "Beatrice", "Basil", "Bianca"),
    "C": ("Clara", "Caleb", "Cyrus", "Celeste"), "D": ("Dmitri", "Daisy", "Dorian", "Delia"),
    "E": ("Elena", "Ethan", "Esme", "Emil"), "F": ("Felix", "Fiona", "Farah", "Finn"),
    "G": ("Greta", "Gabriel", "Gideon", "Gemma"), "H": ("Hugo", "Hazel", "Hamid", "Hana"),
    "I": ("Ivy", "Isaac", "Ines", "Igor"), "J": ("Jonah", "Julia", "Jasper", "Juno"),
    "K": ("Kira", "Kai", "Kofi", "Katya"), "L": ("Leo", "Lena", "Lucia", "Lars"),
    "M": ("Mira", "Marco", "Milo", "Maya"), "N": ("Nadia", "Nora", "Nico", "Naveen"),
    "O": ("Oscar", "Olga", "Omar", "Otto"), "P": ("Priya", "Paula", "Pablo", "Petra"),
    "Q": ("Quentin", "Quinn"), "R": ("Rafael", "Rosa", "Rhea", "Ravi"), "S": ("Sami", "Sofia", "Silas", "Selma"),
    "T": ("Tobias", "Thea", "Tariq", "Talia"), "U": ("Uma", "Ulrich"), "V": ("Victor", "Vera", "Vivian", "Vlad"),
    "W": ("Wren", "Wesley", "Wanda"), "X": ("Xavier", "Ximena"), "Y": ("Yara", "Yusuf", "Yuki"),
    "Z": ("Zane", "Zoe", "Zara"),
}
ALL_NAMES = tuple(n for group in NAMES.values() for n in group)

//! A deterministic catalog generator (SplitMix64 seeded with a constant): the same 2,400
//! products on every machine, so search results are reproducible.

use super::ProductRecord;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// (category, nouns with a price range in whole dollars, adjectives)
type CategorySpec = (
    &'static str,
    &'static [(&'static str, u32, u32)],
    &'static [&'static str],
);

const CATEGORIES: &[CategorySpec] = &[
    (
        "electronics",
        &[
            ("headphones", 15, 350),
            ("earbuds", 12, 250),
            ("speaker", 20, 400),
            ("smartwatch", 40, 450),
            ("keyboard", 15, 200),
            ("mouse", 8, 120),
            ("monitor", 90, 900),
            ("charger", 8, 80),
            ("power bank", 15, 120),
            ("webcam", 20, 200),
            ("tablet", 80, 1100),
            ("microphone", 25, 300),
            ("router", 30, 350),
            ("camera", 120, 1800),
            ("e-reader", 70, 300),
        ],
        &[
            "wireless",
            "bluetooth",
            "noise-cancelling",
            "portable",
            "usb-c",
            "gaming",
            "compact",
            "smart",
            "rechargeable",
            "waterproof",
        ],
    ),
    (
        "books",
        &[
            ("novel", 6, 30),
            ("cookbook", 12, 45),
            ("biography", 10, 40),
            ("textbook", 30, 180),
            ("guide", 8, 40),
            ("anthology", 10, 35),
            ("graphic novel", 10, 40),
            ("workbook", 8, 30),
        ],
        &[
            "bestselling",
            "illustrated",
            "hardcover",
            "paperback",
            "annotated",
            "collector's",
            "beginner's",
            "classic",
        ],
    ),
    (
        "home",
        &[
            ("lamp", 15, 200),
            ("rug", 30, 500),
            ("curtains", 20, 150),
            ("pillow", 10, 80),
            ("blanket", 20, 160),
            ("shelf", 25, 250),
            ("mirror", 20, 300),
            ("wall clock", 12, 120),
            ("vase", 10, 90),
            ("candle", 6, 45),
        ],
        &[
            "modern",
            "rustic",
            "cozy",
            "minimalist",
            "handmade",
            "vintage",
            "scandinavian",
            "soft",
        ],
    ),
    (
        "kitchen",
        &[
            ("blender", 25, 400),
            ("knife set", 20, 350),
            ("frying pan", 15, 180),
            ("kettle", 15, 150),
            ("toaster", 20, 200),
            ("coffee maker", 25, 600),
            ("cutting board", 10, 80),
            ("mixing bowls", 12, 70),
            ("stand mixer", 90, 650),
            ("air fryer", 50, 300),
        ],
        &[
            "stainless steel",
            "non-stick",
            "electric",
            "cast iron",
            "bamboo",
            "programmable",
            "compact",
            "professional",
        ],
    ),
    (
        "sports",
        &[
            ("yoga mat", 12, 120),
            ("dumbbells", 20, 300),
            ("running shoes", 40, 220),
            ("tennis racket", 30, 260),
            ("football", 12, 90),
            ("bike helmet", 25, 250),
            ("water bottle", 8, 50),
            ("jump rope", 6, 40),
            ("resistance bands", 10, 60),
            ("hiking backpack", 40, 280),
        ],
        &[
            "lightweight",
            "adjustable",
            "professional",
            "breathable",
            "insulated",
            "non-slip",
            "durable",
            "foldable",
        ],
    ),
    (
        "clothing",
        &[
            ("t-shirt", 8, 60),
            ("jeans", 25, 180),
            ("jacket", 40, 400),
            ("hoodie", 25, 120),
            ("sneakers", 35, 220),
            ("socks", 5, 30),
            ("scarf", 10, 90),
            ("dress", 25, 300),
            ("raincoat", 35, 250),
            ("sweater", 25, 200),
        ],
        &[
            "black",
            "white",
            "blue",
            "red",
            "green",
            "grey",
            "organic cotton",
            "slim-fit",
            "oversized",
            "waterproof",
        ],
    ),
    (
        "toys",
        &[
            ("puzzle", 8, 60),
            ("building blocks", 15, 200),
            ("doll", 10, 120),
            ("toy car", 6, 80),
            ("board game", 15, 90),
            ("plush bear", 8, 60),
            ("kite", 10, 70),
            ("train set", 30, 250),
        ],
        &[
            "wooden",
            "educational",
            "colorful",
            "remote-control",
            "classic",
            "magnetic",
            "giant",
            "musical",
        ],
    ),
    (
        "beauty",
        &[
            ("shampoo", 5, 45),
            ("face cream", 10, 150),
            ("lipstick", 6, 60),
            ("perfume", 25, 300),
            ("hair dryer", 20, 400),
            ("nail polish", 4, 30),
            ("sunscreen", 8, 45),
            ("face mask", 5, 40),
        ],
        &[
            "organic",
            "vegan",
            "hydrating",
            "fragrance-free",
            "travel-size",
            "luxury",
            "natural",
            "professional",
        ],
    ),
    (
        "garden",
        &[
            ("garden hose", 15, 120),
            ("shovel", 12, 80),
            ("planter", 10, 150),
            ("seed kit", 5, 40),
            ("lawn mower", 120, 900),
            ("pruning shears", 10, 80),
            ("watering can", 8, 60),
            ("bird feeder", 10, 90),
        ],
        &[
            "expandable",
            "ergonomic",
            "cordless",
            "galvanized",
            "self-watering",
            "heavy-duty",
            "ceramic",
            "solar",
        ],
    ),
    (
        "office",
        &[
            ("notebook", 3, 35),
            ("pen set", 5, 80),
            ("desk chair", 60, 700),
            ("stapler", 6, 45),
            ("desk lamp", 15, 150),
            ("laptop backpack", 25, 200),
            ("whiteboard", 20, 180),
            ("desk organizer", 10, 70),
        ],
        &[
            "ergonomic",
            "refillable",
            "dotted",
            "leather",
            "adjustable",
            "magnetic",
            "recycled",
            "premium",
        ],
    ),
    (
        "pets",
        &[
            ("dog bed", 20, 200),
            ("cat toy", 3, 30),
            ("leash", 8, 60),
            ("food bowl", 6, 50),
            ("aquarium", 30, 400),
            ("scratching post", 15, 150),
            ("pet carrier", 25, 180),
            ("chew toy", 4, 30),
        ],
        &[
            "orthopedic",
            "interactive",
            "reflective",
            "stainless steel",
            "washable",
            "durable",
            "calming",
            "portable",
        ],
    ),
    (
        "automotive",
        &[
            ("car charger", 8, 50),
            ("dash cam", 40, 300),
            ("tire inflator", 25, 150),
            ("seat covers", 20, 200),
            ("car vacuum", 25, 160),
            ("phone mount", 8, 60),
            ("jump starter", 50, 250),
            ("floor mats", 20, 150),
        ],
        &[
            "universal",
            "heavy-duty",
            "wireless",
            "portable",
            "all-weather",
            "magnetic",
            "4k",
            "cordless",
        ],
    ),
];

const BRANDS: &[&str] = &[
    "Auralux",
    "Nordwind",
    "Kestrel",
    "Bramble & Co",
    "Lumina",
    "Pioneer Peak",
    "Oakhaven",
    "Zephyr",
    "Vantage",
    "Solace",
    "Tidewater",
    "Ironbark",
    "Maple Lane",
    "Quillon",
    "Novacore",
    "Harbor",
];

const FEATURES: &[&str] = &[
    "built to last",
    "easy to clean",
    "backed by a two-year warranty",
    "loved by reviewers",
    "great as a gift",
    "designed for everyday use",
    "with a sleek finish",
    "tested for safety",
    "made with recycled materials",
    "with free returns",
];

const PER_CATEGORY: usize = 200;

/// Generates the catalog: 200 products in each of 12 categories.
pub fn generate() -> Vec<ProductRecord> {
    let mut rng = SplitMix64(0x1A7E_57AE_5EED_2026);
    let mut out = Vec::with_capacity(CATEGORIES.len() * PER_CATEGORY);
    for (category, nouns, adjectives) in CATEGORIES {
        for _ in 0..PER_CATEGORY {
            let (noun, lo, hi) = nouns[rng.below(nouns.len())];
            let adjective = rng.pick(adjectives);
            let brand = rng.pick(BRANDS);
            let model = format!(
                "{}{}",
                ["X", "S", "Pro ", "Mini ", "Air ", ""][rng.below(6)],
                100 + rng.below(900)
            );
            let dollars = lo + (rng.below((hi - lo + 1) as usize) as u32);
            let cents = [99u32, 49, 95, 0, 29, 79][rng.below(6)];
            let price = if cents == 0 {
                format!("{dollars}.00")
            } else {
                format!("{}.{cents:02}", dollars.saturating_sub(1).max(1))
            };
            let rating = 10 + rng.below(41); // 1.0 ..= 5.0
            let name = title_case(&format!("{brand} {adjective} {noun} {model}"));
            let description = format!(
                "{} {adjective} {noun} from {brand}, {} and {}.",
                if adjective.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "An"
                } else {
                    "A"
                },
                rng.pick(FEATURES),
                rng.pick(FEATURES),
            );
            out.push(ProductRecord {
                id: format!("p-{:05}", out.len() + 1),
                name,
                description,
                category: (*category).to_owned(),
                price,
                currency: "USD".to_owned(),
                rating: rating as f32 / 10.0,
            });
        }
    }
    out
}

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// The catalog as JSON lines, as committed in `data/catalog.jsonl`.
pub fn to_jsonl(products: &[ProductRecord]) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for p in products {
        out.push_str(&serde_json::to_string(p)?);
        out.push('\n');
    }
    Ok(out)
}

/// The categories and the words that name them, for the router's vocabulary.
pub fn category_synonyms() -> Vec<(&'static str, Vec<&'static str>)> {
    CATEGORIES
        .iter()
        .map(|(category, _, _)| {
            // English synonyms, then the category's name in de, es, fr, it, nl, pt, pl, ru.
            let synonyms: &[&str] = match *category {
                "electronics" => &[
                    "electronic",
                    "gadget",
                    "gadgets",
                    "tech",
                    "devices",
                    "elektronik",
                    "electrónica",
                    "electronica",
                    "électronique",
                    "elettronica",
                    "elektronica",
                    "eletrônicos",
                    "eletronicos",
                    "электроника",
                ],
                "books" => &[
                    "book",
                    "reading",
                    "bücher",
                    "buch",
                    "libros",
                    "libro",
                    "livres",
                    "libri",
                    "boeken",
                    "livros",
                    "książki",
                    "книги",
                ],
                "home" => &[
                    "home decor",
                    "furniture",
                    "decor",
                    "hogar",
                    "maison",
                    "wohnen",
                    "casa",
                    "wonen",
                    "décoration",
                    "möbel",
                    "muebles",
                    "meubles",
                    "mobili",
                    "meubels",
                ],
                "kitchen" => &[
                    "cookware",
                    "kitchenware",
                    "appliances",
                    "küche",
                    "cocina",
                    "cuisine",
                    "cucina",
                    "keuken",
                    "cozinha",
                    "kuchnia",
                    "кухня",
                ],
                "sports" => &[
                    "sport",
                    "fitness",
                    "outdoor",
                    "gym",
                    "deportes",
                    "deporte",
                    "sportartikel",
                    "esportes",
                    "спорт",
                ],
                "clothing" => &[
                    "clothes",
                    "apparel",
                    "fashion",
                    "kleidung",
                    "mode",
                    "ropa",
                    "vêtements",
                    "vetements",
                    "abbigliamento",
                    "vestiti",
                    "kleding",
                    "kleren",
                    "roupas",
                    "roupa",
                    "ubrania",
                    "одежда",
                ],
                "toys" => &[
                    "toy",
                    "games",
                    "kids",
                    "spielzeug",
                    "spielsachen",
                    "kinder",
                    "juguetes",
                    "juguete",
                    "niños",
                    "jouets",
                    "jouet",
                    "enfants",
                    "giocattoli",
                    "giocattolo",
                    "bambini",
                    "speelgoed",
                    "kinderen",
                    "brinquedos",
                    "brinquedo",
                    "crianças",
                    "zabawki",
                    "игрушки",
                ],
                "beauty" => &[
                    "cosmetics",
                    "skincare",
                    "makeup",
                    "kosmetik",
                    "schönheit",
                    "belleza",
                    "cosméticos",
                    "beauté",
                    "cosmétiques",
                    "bellezza",
                    "cosmetici",
                    "schoonheid",
                    "beleza",
                    "uroda",
                    "косметика",
                ],
                "garden" => &[
                    "gardening",
                    "yard",
                    "lawn",
                    "garten",
                    "jardín",
                    "jardin",
                    "jardinería",
                    "jardinage",
                    "giardino",
                    "giardinaggio",
                    "tuin",
                    "jardim",
                    "ogród",
                    "сад",
                ],
                "office" => &[
                    "stationery",
                    "office supplies",
                    "büro",
                    "bürobedarf",
                    "oficina",
                    "papelería",
                    "bureau",
                    "papeterie",
                    "ufficio",
                    "cancelleria",
                    "kantoor",
                    "escritório",
                    "biuro",
                ],
                "pets" => &[
                    "pet",
                    "pet supplies",
                    "haustiere",
                    "tierbedarf",
                    "mascotas",
                    "animaux",
                    "animali",
                    "huisdieren",
                    "animais",
                    "zwierzęta",
                ],
                "automotive" => &[
                    "auto",
                    "car accessories",
                    "autozubehör",
                    "coches",
                    "voiture",
                    "automobile",
                    "automóvel",
                    "motoryzacja",
                ],
                _ => &[],
            };
            (*category, synonyms.to_vec())
        })
        .collect()
}

/// Every noun and adjective the catalog is built from: the words a search is made of.
pub fn product_words() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = CATEGORIES
        .iter()
        .flat_map(|(_, nouns, adjectives)| {
            nouns
                .iter()
                .map(|(noun, _, _)| *noun)
                .chain(adjectives.iter().copied())
        })
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

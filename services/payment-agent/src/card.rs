//! What the payment agent tells the router about itself.

use intentmesh_core::agent::{AgentCard, ExecutionMode, Skill};

pub use crate::domain::payments::SKILL_PAY;

pub const AGENT_NAME: &str = "payment";

pub fn card() -> AgentCard {
    let strings = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    AgentCard {
        name: AGENT_NAME.to_owned(),
        version: intentmesh_core::VERSION.to_owned(),
        description: "Makes payments and records each one once in the ledger".to_owned(),
        skills: vec![Skill {
            id: SKILL_PAY.to_owned(),
            name: "Make a payment".to_owned(),
            description: "Charge an amount in a currency, optionally for an order".to_owned(),
            // English first, then the same words in the main languages the shop serves.
            tags: strings(&[
                "pay",
                "payment",
                "charge",
                "checkout",
                "settle",
                "transfer",
                "send money",
                "remit",
                "bill",
                "invoice",
                "wire",
                // de
                "bezahlen",
                "bezahle",
                "zahlen",
                "zahle",
                "zahlung",
                "überweisen",
                "überweise",
                "überweisung",
                // es, pt
                "pagar",
                "pago",
                "pague",
                "pagamento",
                "transferencia",
                // fr
                "payer",
                "paie",
                "paiement",
                "régler",
                "virement",
                // it
                "pagare",
                "bonifico",
                // nl, sv
                "betalen",
                "betaal",
                "betaling",
                "betala",
                // pl, ru, tr
                "zapłać",
                "zapłacić",
                "płatność",
                "оплатить",
                "оплата",
                "заплатить",
                "öde",
                "ödeme",
                // zh, ja
                "支付",
                "付款",
                "支払",
                // vi
                "thanh toán",
                "trả tiền",
                "trả",
            ]),
            examples: strings(&[
                "I want to pay $100 for order #12345",
                "pay 49.99 EUR for order A-77812",
                "charge my card 20 dollars",
                "please settle order 5531 for 1.250,00 €",
                "send a payment of £15",
                "make a payment of 250 usd",
                "pay $100",
                "transfer 30 euros for order 9001",
            ]),
            patterns: strings(&[
                r"\b(pay|pays|paying|paid|payment|charge|settle|transfer|remit|wire)\b",
                r"\bcheck ?out\b",
                // Other languages: the verb's forms (`zahl mal`, `paga`, `betaal`, `оплатите`).
                r"\b((be)?zahl(e|en|t|st|ung)?|überweis\w*|paga(r|re|mento)?|pague|pago|pagu\w+|pay(er|ez|e)|paie(ment)?|r(é|e)gl(er|ez|e)|virement|bonifico|betaa?l\w*|betala|zapła\w*|оплат\w*|заплат\w*|öde(me)?)\b",
                r"(支付|付款|支払|払う|払い)",
                // vi, with and without diacritics (`thanh toán`, `trả tiền`, `tra tien`).
                r"\b(thanh to(á|a)n|tr(ả|a) ti(ề|e)n|trả)\b",
                // Money sent somewhere, or put on a card.
                r"\b(send|sned|sent)\s+(\p{Sc}\s?)?\d",
                r"\bput\b[^.?!]{0,25}\bon (my|the|this) card\b",
            ]),
            default_mode: ExecutionMode::Sync,
            entities: strings(&["amount", "currency", "order_id"]),
            vocabularies: vec![],
            stopwords: strings(&["pay", "payment", "charge", "order"]),
            // What this skill does not do, though it sounds like money: refunds, disputes,
            // cancellations, where an order is. The router answers those with a question.
            counter_examples: strings(&[
                "I want a refund for my last purchase",
                "give me my money back",
                "I was charged twice for the same thing",
                "dispute a charge on my card",
                "cancel my order",
                "where is my order?",
                "has my parcel been shipped yet",
                "what is the status of my payment",
                "why was my card declined",
                "how do I change my payment method",
            ]),
            exclude_patterns: strings(&[
                r"\b(refund\w*|reimburs\w*|money back|charge ?backs?|disputes?|disputing)\b",
                r"\bcharged (me )?(twice|two times|double)\b",
                r"\b(cancel\w*|annul\w*|stornier\w*|cancelar|annuleren|anuluj\w*)\b",
                r"\b(rembours\w*|reembols\w*|r(ü|ue)ckerstatt\w*|erstatt\w*|rimbors\w*|terugbetal\w*|estorno)\b",
                r"\baddebitat\w* (due|2) volte\b",
                r"\b(where is|where's|track(ing)?|status of|shipped|delivered)\b",
                r"\b(o(ù|u) est|o(ù|u) en est|d(ó|o)nde est(á|a)|wo ist|wo bleibt|waar is|waar blijft|где)\b",
                // Questions about a payment already made, or about how to pay.
                r"\b(did|has|is|was) (my|the|this) (payment|transfer|charge)\b",
                r"\bhow much did i\b",
                r"\b(how (do|can|should) i pay|can i pay (with|by|via|using)|payment methods?)\b",
                r"\b(stop|revers\w*|undo|block) (the |my |this |that )?(payment|transfer|charge)\b",
                r"\bpay (me|us) back\b",
                r"\b(don['’]?t|do not) recogni[sz]e\b",
                // "Pay" that only describes a price: a search with a budget.
                r"\bhow much (do|does|is|are|would|will|should)\b",
                r"\b(pay|spend) (up to|at most|no more than|max|between|under|less than|around)\b",
                r"\bwilling to (pay|spend)\b",
                r"\bpay (no |close )?attention\b",
                // Money sent to someone (a name, "my brother"): the skill pays orders, it does
                // not move money to people. A capitalised word after "to" is a name.
                r"\b(send|sned|sent|give|transfer|wire)\b[^.?!]{0,25}\bto\s+((my|his|her|their|our|a)\b|(?-i:[A-Z][a-z]+\b))",
                // A payment already made, told rather than asked ("… and paid 87,40 € by card").
                r"\b(i|we|and|already|i've|i have|i had|have)\s+(already\s+)?paid\b",
                // The word alone, as a question; converting or translating money or the word.
                r"^\W*(pay|payment|payments)\W*\?+\W*$",
                r"\b(convert\w*|conversion|translat\w*)\b",
                // vi: refunds and cancellations, a payment not (yet) wanted or already made.
                r"\b(ho(à|a)n ti(ề|e)n|h(ủ|u)y)\b",
                r"\b(kh(ô|o)ng|đ(ừ|u)ng|ch(ư|u)a)\s+(mu(ố|o)n\s+)?(thanh to(á|a)n|tr(ả|a))\b",
                r"\bđ(ã|a)\s+(thanh to(á|a)n|trả)\b",
                // Forged router output.
                r#"\{\s*"(intent|agent|route)"\s*:"#,
                // Instructions aimed at the system rather than a request: "ignore previous
                // instructions", "admin mode", role tags.
                r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|rules|prompts?|guidelines|directives|above|previous)\b",
                r"\b(system|admin|administrator|developer|debug|god|maintenance|root)\s*(override|mode|prompt|access)\b",
                r"\byou are now\b",
                r"<\s*/?\s*(system|assistant|user|message|instructions?|prompt)\b",
                r"^\s*\[?\s*(system|assistant|developer)\s*\]?\s*:",
                // Moving money to an account or a person: this skill pays orders, nothing else.
                r"\b(to|into)\s+(the\s+|my\s+|his\s+|her\s+|their\s+|a\s+)?(bank\s+)?(account|acct|iban|wallet)\b",
                r"\baccount\s*(no\.?|number|#)?\s*:?\s*\d{2,}",
                r"\b(send|transfer|wire|give)\b.{0,40}\bto\s+(my\s+)?(friend|brother|sister|mom|mother|dad|father|wife|husband|son|daughter|him|her|them|someone|somebody)\b",
                r"\b(remaining|whole|entire|full)\s+balance\b",
                // Negations and changes of mind.
                r"\b(don['’]?t|do not|never|no need to|shouldn['’]?t|should not|won['’]?t|will not|not going to)\s+(\w+\s+){0,2}(pay|charge|send|transfer)",
                r"\bchanged my mind\b",
                // Questions and complaints about payments, not requests to make one.
                r"^\W*(why|how|what|what['’]?s|where|which|who|did|does|do you|is|was|were|has|have|am i)\b",
                r"\b(payment|transfer|charge)\s+(has\s+|was\s+)?(failed|declined|bounced|is pending|did ?n[o'’]?t|went through)\b",
                r"\b(was|been|got|being|get)\s+(charged|billed)\b",
                r"\bi\s+(already\s+|just\s+)?(paid|sent|transferred)\b",
                r"\b(shows|showing|marked|says|listed)\s+(as\s+)?unpaid\b",
                r"\bexchange rates?\b",
                // Hypotheticals.
                r"\b(what if|if i (were to |was to )?pay|hypothetically|suppose i|supposing)\b",
                // Other work on an order than paying it.
                r"\b(change|update|edit|modify|correct)\s+(the\s+|my\s+)?(shipping\s+|delivery\s+|billing\s+)?address\b",
                // An amount alone asks for nothing.
                r"^\W*[$€£¥₫]?\s*\d[\d.,\s]*\s*(usd|eur|gbp|jpy|vnd|dollars?|euros?|[$€£¥₫])?\W*$",
            ]),
        }],
    }
}

"""PromptContent image documents generated from campaign contexts: descriptions, hashtags, sizes, versions, licences.

Every text is assembled from vocabulary pools (each idea written in two or three wordings) by numpy's seeded
Generator, so the same seed and contexts give identical documents. `paraphrase` describes the same image again
from the same attributes in other wordings and another sentence order; the retrieval test queries with it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from bson import ObjectId

from mcp_servers.vector_search import EMBEDDING_MODEL_NAME, description_sha256, to_hashtag

# One idea in several wordings; descriptions use one, paraphrases another.
Concept = tuple[str, ...]
# A classifying hashtag: the tag, its taxonomy category (model/content.yaml, collection hashtags) and its meaning.
Hashtag = tuple[str, str, str]

URL_BASE = "https://cdn.promptcontent.example/images"
FAKER_POOL_SEED = 20240701  # Faker only fills the name pools, always with this seed.


# --------------------------------------------------------------------------- campaign context


@dataclass(frozen=True)
class CampaignContext:
    """What a campaign tells its images: who advertises what, to whom, where, on which channel and when."""

    campaign_id: int
    campaign_name: str
    brand: str
    product: str
    product_category: str
    audience: str
    channel: str
    market: str  # market code such as "US-NY", or a bare ISO 3166-1 alpha-2 country code
    starts_on: date
    objective: str = "conversion"

    @property
    def country_code(self) -> str:
        return self.market.split("-", 1)[0].upper()

    @property
    def month(self) -> int:
        return self.starts_on.month

    @property
    def season(self) -> str:
        return season_for(self.country_code, self.month)

    @property
    def holiday(self) -> str | None:
        return HOLIDAY_BY_MONTH.get(self.month)


SOUTHERN_HEMISPHERE = frozenset({"AR", "AU", "BR", "CL", "NZ", "PE", "UY", "ZA"})
TROPICAL = frozenset({"CO", "CR", "EC", "ID", "MY", "PA", "PH", "SG", "TH", "VE"})
NORTHERN_SEASONS = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring"}
NORTHERN_SEASONS |= {6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}
OPPOSITE_SEASON = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}


def season_for(country_code: str, month: int) -> str:
    """The season a month falls in for a country: hemispheres swap seasons; the tropics have dry and rainy ones."""
    if country_code in TROPICAL:
        return "rainy_season" if 5 <= month <= 11 else "dry_season"
    northern = NORTHERN_SEASONS[month]
    return OPPOSITE_SEASON[northern] if country_code in SOUTHERN_HEMISPHERE else northern


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Category:
    """The visual vocabulary of one product category."""

    label: str
    noun: Concept
    details: tuple[Concept, ...]
    settings: tuple[Concept, ...]
    props: tuple[Concept, ...]
    actions: tuple[Concept, ...]
    product_types: tuple[str, ...]
    brand_suffixes: tuple[str, ...]
    audiences: tuple[str, ...]


CATEGORIES: dict[str, Category] = {
    "footwear": Category(
        label="footwear",
        noun=("the shoes", "the pair of sneakers"),
        details=(
            ("its knit upper and cushioned sole in sharp focus", "the woven upper and springy midsole shown crisply"),
            ("splashing through a shallow puddle", "kicking up droplets from a small puddle"),
            ("with reflective heel tabs catching the light", "the reflective strips at the heel glinting"),
            ("laced with bright contrasting laces", "its laces in a vivid contrasting colour"),
        ),
        settings=(
            ("on a rain-slicked downtown street", "along a wet city street just after the rain"),
            ("on a forest trail covered in pine needles", "along a woodland path strewn with needles"),
            ("on the running track of an empty stadium", "on the lanes of a deserted athletics track"),
            ("on the concrete ramps of a skatepark", "across the ledges of a skate park"),
            ("in a minimalist sneaker boutique", "inside a pared-back shoe store with floating shelves"),
            ("on a boardwalk beside the sea", "along a seaside promenade"),
        ),
        props=(
            ("a stainless water bottle", "a metal drinking flask"),
            ("a fitness tracker", "a smart sports band"),
            ("a shoebox lined with tissue paper", "an open shoe box with wrapping paper"),
            ("wireless earbuds", "cordless earphones"),
            ("a rolled-up running jacket", "a lightweight jacket bundled up"),
        ),
        actions=(
            ("lace up their shoes", "tie their laces"),
            ("jog in step", "run together at an easy pace"),
            ("stretch before a run", "warm up with a few stretches"),
        ),
        product_types=("trail running shoes", "court sneakers", "hiking boots", "slip-on loafers"),
        brand_suffixes=("Footwear", "Athletics", "Run Co."),
        audiences=("fitness_enthusiasts", "university_students", "outdoor_adventurers", "fashion_shoppers"),
    ),
    "apparel": Category(
        label="apparel",
        noun=("the clothing", "the outfit"),
        details=(
            ("its fabric texture visible in the folds", "the weave of the cloth showing in every fold"),
            ("worn open over a plain tee", "layered loosely over a simple T-shirt"),
            ("hanging on a wooden rail", "draped on a timber clothes rack"),
            ("with its stitching details highlighted", "close enough to show the seams and stitching"),
        ),
        settings=(
            ("in a loft apartment with brick walls", "inside a converted-warehouse flat"),
            ("on a busy shopping street", "amid the bustle of a retail high street"),
            ("in a fitting room with a tall mirror", "inside a changing room beside a full-length mirror"),
            ("at a rooftop party", "on a roof terrace during a get-together"),
            ("at a vintage market stall", "among the racks of a second-hand market"),
            ("on a windswept coastal cliff", "atop a breezy seaside cliff"),
        ),
        props=(
            ("a canvas tote bag", "a cotton shopping bag"),
            ("round sunglasses", "circular shades"),
            ("a leather belt", "a tan belt"),
            ("a paper coffee cup", "a takeaway coffee"),
            ("a wide-brim hat", "a broad felt hat"),
        ),
        actions=(
            ("try on outfits", "test out new looks"),
            ("spin to show off the fit", "twirl to show how it moves"),
            ("browse a clothing rail", "flick through the hangers"),
        ),
        product_types=("linen shirt", "puffer jacket", "denim collection", "knit sweater"),
        brand_suffixes=("Apparel", "Clothing", "Studio"),
        audiences=("fashion_shoppers", "young_professionals", "university_students", "luxury_shoppers"),
    ),
    "beverages": Category(
        label="beverages",
        noun=("the drink", "the beverage"),
        details=(
            ("poured over ice in a tall glass", "served on ice in a tall tumbler"),
            ("with beads of condensation on the can", "the can misted with cold droplets"),
            ("mid-splash as it hits the glass", "caught splashing into the glass"),
            ("lined up in a row of chilled bottles", "in a neat row of cold bottles"),
        ),
        settings=(
            ("at a picnic in the park", "on a blanket spread across the grass of a park"),
            ("at a bustling cafe counter", "by the counter of a busy coffee shop"),
            ("on a poolside lounger", "beside a swimming pool"),
            ("at a backyard barbecue", "during a garden cookout"),
            ("in a bright modern kitchen", "inside a light-filled contemporary kitchen"),
            ("at an outdoor music festival", "in the crowd of an open-air concert"),
        ),
        props=(
            ("lime wedges and mint leaves", "sprigs of mint and slices of lime"),
            ("a bucket of ice", "an ice-filled pail"),
            ("paper straws", "striped drinking straws"),
            ("a cooler box", "a portable chiller"),
            ("a bowl of fresh berries", "a dish of berries"),
        ),
        actions=(
            ("clink their drinks", "raise their glasses in a toast"),
            ("pour a round of drinks", "fill each other's glasses"),
            ("take a refreshing sip", "sip thirstily"),
        ),
        product_types=("sparkling water", "cold brew coffee", "craft lemonade", "iced green tea"),
        brand_suffixes=("Drinks", "Brew Co.", "Beverages"),
        audiences=("young_professionals", "university_students", "fitness_enthusiasts", "families_with_children"),
    ),
    "food": Category(
        label="food",
        noun=("the food", "the dish"),
        details=(
            ("sliced open to show the filling", "cut in half to reveal the inside"),
            ("steaming straight from the oven", "hot and steaming, fresh out of the oven"),
            ("arranged on a rustic wooden board", "laid out on a rough timber board"),
            ("with a sprinkle of fresh herbs", "garnished with chopped herbs"),
        ),
        settings=(
            ("around a farmhouse dining table", "at a long country-style kitchen table"),
            ("in a busy street-food market", "among the stalls of a street-food market"),
            ("at a campsite with a portable stove", "beside a camping stove at a campground"),
            ("in a compact city kitchen", "inside a small urban kitchen"),
            ("during an office lunch break", "at lunchtime on a workplace desk"),
            ("at a small table on a balcony", "at a little bistro table out on a balcony"),
        ),
        props=(
            ("a linen napkin", "a cloth napkin"),
            ("a cast-iron pan", "a heavy iron skillet"),
            ("a jar of chilli flakes", "a pot of crushed chilli"),
            ("fresh tomatoes and basil", "basil leaves and ripe tomatoes"),
            ("a wooden spoon", "a timber ladle"),
        ),
        actions=(
            ("share a plate", "pass a plate between them"),
            ("take a first bite", "bite into it"),
            ("cook side by side", "prepare the meal together"),
        ),
        product_types=("granola bars", "frozen pizza", "plant-based burger", "artisan pasta sauce"),
        brand_suffixes=("Foods", "Kitchen", "Pantry"),
        audiences=("home_cooks", "families_with_children", "young_professionals", "university_students"),
    ),
    "beauty": Category(
        label="beauty",
        noun=("the cosmetics", "the beauty product"),
        details=(
            ("with a single drop falling from the dropper", "a lone droplet falling from the pipette"),
            ("its glossy texture swatched beside it", "a smear of its texture shown next to the bottle"),
            ("standing on a marble shelf", "placed on a marble ledge"),
            ("surrounded by the fresh ingredients it contains", "ringed by the botanicals in its formula"),
        ),
        settings=(
            ("at a bathroom vanity with a round mirror", "in front of a circular vanity mirror in a bathroom"),
            ("in a serene day spa", "inside a calm spa treatment room"),
            ("backstage at a fashion show", "behind the scenes of a catwalk show"),
            ("on a bathroom windowsill", "on the ledge of a bathroom window"),
            ("on a pastel-toned studio set", "on a studio set painted in soft pastels"),
            ("in a hotel suite before an evening out", "in a hotel room while preparing for a night out"),
        ),
        props=(
            ("eucalyptus sprigs", "stems of eucalyptus"),
            ("a jade facial roller", "a green stone face roller"),
            ("a fluffy white towel", "a soft bath towel"),
            ("a cluster of makeup brushes", "a set of cosmetic brushes"),
            ("dried rose petals", "scattered rose petals"),
        ),
        actions=(
            ("apply the product in the mirror", "put it on while looking in the mirror"),
            ("compare shades on their wrists", "test colours on the backs of their hands"),
            ("laugh while getting ready", "giggle as they get ready"),
        ),
        product_types=("vitamin C serum", "matte lipstick", "hydrating face cream", "hair oil"),
        brand_suffixes=("Beauty", "Skin", "Cosmetics"),
        audiences=("fashion_shoppers", "young_professionals", "luxury_shoppers", "university_students"),
    ),
    "electronics": Category(
        label="electronics",
        noun=("the device", "the gadget"),
        details=(
            ("its screen glowing with a crisp interface", "the display lit with a sharp interface"),
            ("exploded into floating components", "shown as a floating exploded view of its parts"),
            ("resting on its charging dock", "sitting in its charging cradle"),
            ("with a soft reflection on its glossy casing", "its shiny shell catching a gentle reflection"),
        ),
        settings=(
            ("in a tidy home office", "at a neat work-from-home desk"),
            ("on a crowded commuter train", "inside a packed rush-hour train"),
            ("beside a glowing gaming setup", "next to an RGB-lit gaming rig"),
            ("on a rocky mountain summit", "atop a windswept peak"),
            ("in a co-working space", "inside a shared open-plan workspace"),
            ("on a dark studio set with a seamless backdrop", "on a black studio stage with a paper sweep"),
        ),
        props=(
            ("a braided charging cable", "a woven USB cable"),
            ("a mechanical keyboard", "a clicky keyboard"),
            ("a notebook and pen", "a paper pad and pen"),
            ("a potted succulent", "a small cactus in a pot"),
            ("a zip travel pouch", "a small zipped case"),
        ),
        actions=(
            ("test the device together", "try out the gadget between them"),
            ("film a quick video", "record a short clip"),
            ("listen with their eyes closed", "listen intently, eyes shut"),
        ),
        product_types=("wireless earbuds", "smartwatch", "4K action camera", "noise-cancelling headphones"),
        brand_suffixes=("Labs", "Electronics", "Tech"),
        audiences=("tech_early_adopters", "gen_z_gamers", "young_professionals", "frequent_travellers"),
    ),
    "home": Category(
        label="home",
        noun=("the homeware", "the home product"),
        details=(
            ("styled on a neatly made bed", "shown on a freshly made bed"),
            ("at work in the middle of the room", "in use right in the centre of the room"),
            ("stacked in a neat pile", "in a tidy stack"),
            ("with its texture shown up close", "close enough to feel the texture"),
        ),
        settings=(
            ("in a Scandinavian-style living room", "inside a Nordic-inspired lounge"),
            ("in a cosy reading nook", "in a snug corner for reading"),
            ("in a freshly renovated kitchen", "inside a newly remodelled kitchen"),
            ("in a small studio apartment", "inside a compact one-room flat"),
            ("on a covered porch", "on a sheltered veranda"),
            ("in a bright kids' bedroom", "inside a cheerful child's room"),
        ),
        props=(
            ("a woven throw blanket", "a knitted throw"),
            ("a stack of hardback books", "a pile of books"),
            ("a trailing houseplant", "a cascading pothos"),
            ("a ceramic vase", "a clay vase"),
            ("a steaming teapot", "a hot pot of tea"),
        ),
        actions=(
            ("relax on the sofa", "lounge on the couch"),
            ("rearrange the room", "move the furniture around"),
            ("unbox it in the hallway", "open its box by the front door"),
        ),
        product_types=("linen bedding set", "robot vacuum", "ceramic cookware", "scented candle", "modular sofa"),
        brand_suffixes=("Home", "Living", "House"),
        audiences=("new_parents", "young_professionals", "retirees", "families_with_children"),
    ),
    "fitness": Category(
        label="fitness",
        noun=("the equipment", "the fitness gear"),
        details=(
            ("in mid-use during a workout", "in action mid-workout"),
            ("with chalk dust hanging in the air", "with a haze of gym chalk around it"),
            ("neatly rolled next to a towel", "rolled up beside a towel"),
            ("its display showing workout stats", "the screen showing training numbers"),
        ),
        settings=(
            ("in an industrial-style gym", "inside a warehouse gym with exposed brick"),
            ("in a bright yoga studio", "inside a light wooden yoga room"),
            ("on a quiet beach", "on an empty stretch of sand"),
            ("in a garage home gym", "inside a garage turned into a gym"),
            ("on a city rooftop", "on the roof of a downtown building"),
            ("at an outdoor workout station in a park", "by the pull-up bars of a public park"),
        ),
        props=(
            ("a shaker bottle", "a protein shaker"),
            ("a sweat towel", "a small gym towel"),
            ("a kettlebell", "a cast-iron kettlebell"),
            ("a foam roller", "a massage roller"),
            ("a jump rope", "a skipping rope"),
        ),
        actions=(
            ("train side by side", "work out together"),
            ("spot each other on a lift", "help each other through a lift"),
            ("catch their breath", "pause to breathe"),
        ),
        product_types=("adjustable dumbbells", "yoga mat", "smart rowing machine", "resistance bands"),
        brand_suffixes=("Fitness", "Performance", "Gym Gear"),
        audiences=("fitness_enthusiasts", "young_professionals", "retirees", "university_students"),
    ),
    "travel": Category(
        label="travel",
        noun=("the trip", "the travel offer"),
        details=(
            ("shown as a boarding pass on a phone", "displayed as a digital ticket on a phone"),
            ("with luggage tags fluttering", "its luggage tags swinging"),
            ("promised by a postcard-perfect view", "framed like a picture postcard"),
            ("packed and ready by the door", "ready to go beside the door"),
        ),
        settings=(
            ("at an airport departure gate", "beside the boarding gate of an airport"),
            ("on a white-sand tropical beach", "along a pale sandy beach in the tropics"),
            ("on a cobblestone old-town square", "in a historic square paved with cobbles"),
            ("aboard a train crossing the mountains", "on a train winding through the mountains"),
            ("at a hotel infinity pool", "by an edgeless hotel pool"),
            ("at a mountain lodge with a valley view", "at an alpine chalet overlooking the valley"),
        ),
        props=(
            ("a passport and boarding pass", "travel documents"),
            ("a paper map", "a folded map"),
            ("a straw sun hat", "a woven sunhat"),
            ("a vintage film camera", "an old-style camera"),
            ("a neck pillow", "a travel pillow"),
        ),
        actions=(
            ("plan a route on a paper map", "pore over a map together"),
            ("wheel their suitcases", "pull their cases behind them"),
            ("take in the view", "gaze out at the scenery"),
        ),
        product_types=("weekend city break", "all-inclusive resort stay", "rail pass", "carry-on suitcase"),
        brand_suffixes=("Travel", "Journeys", "Airways"),
        audiences=("frequent_travellers", "retirees", "young_professionals", "outdoor_adventurers"),
    ),
    "finance": Category(
        label="finance",
        noun=("the financial product", "the service"),
        details=(
            ("shown on a phone screen with a rising chart", "on a smartphone showing a climbing graph"),
            ("as a metal card held between two fingers", "a metal card pinched between the fingers"),
            ("next to a neat stack of receipts", "beside a tidy pile of receipts"),
            ("with a notification of a completed payment", "with a payment-complete alert on screen"),
        ),
        settings=(
            ("at a kitchen table covered in paperwork", "at a kitchen table with bills spread out"),
            ("in a glass-walled city office", "inside a glazed downtown office"),
            ("at the checkout of a small cafe", "at the till of a little coffee shop"),
            ("in a modern bank branch", "inside a contemporary banking hall"),
            ("at a desk in a home study", "at a small desk in a study at home"),
            ("in front of a newly bought house", "outside a freshly purchased home"),
        ),
        props=(
            ("a desk calculator", "an old-fashioned calculator"),
            ("a piggy bank", "a ceramic money box"),
            ("a laptop showing a spreadsheet", "an open spreadsheet on a laptop"),
            ("a set of new house keys", "freshly cut house keys"),
            ("a contactless card reader", "a tap-to-pay terminal"),
        ),
        actions=(
            ("review their budget", "go over the monthly budget"),
            ("shake hands on a deal", "seal an agreement with a handshake"),
            ("celebrate a paid-off balance", "cheer a cleared balance"),
        ),
        product_types=("cashback credit card", "mobile banking app", "savings account", "small-business loan"),
        brand_suffixes=("Bank", "Finance", "Capital"),
        audiences=("small_business_owners", "young_professionals", "new_parents", "retirees"),
    ),
    "automotive": Category(
        label="automotive",
        noun=("the car", "the vehicle"),
        details=(
            ("its headlights cutting through the dusk", "headlamps glowing through the evening"),
            ("plugged into a charging station", "connected to a roadside charger"),
            ("with rain beading on the bonnet", "raindrops gathering on the hood"),
            ("shown from a dramatic three-quarter angle", "viewed at a bold three-quarter angle"),
        ),
        settings=(
            ("on a winding coastal road", "along a twisting road by the sea"),
            ("in an underground parking garage", "inside a concrete car park"),
            ("on a desert highway", "on a straight road through the desert"),
            ("in a sleek showroom", "inside a polished car showroom"),
            ("on a suburban driveway", "in front of a suburban house"),
            ("at a mountain pass overlook", "at a high lookout on a mountain road"),
        ),
        props=(
            ("a child seat in the back", "a booster seat on the rear bench"),
            ("a roof box", "a cargo carrier on the roof"),
            ("a coiled charging cable", "an EV cable"),
            ("a surfboard on the roof rack", "a board strapped on top"),
            ("a key fob", "a remote car key"),
        ),
        actions=(
            ("load the boot for a road trip", "pack the trunk for a journey"),
            ("take a test drive", "try it out on a test drive"),
            ("lean on the car and chat", "chat while leaning against the car"),
        ),
        product_types=("electric SUV", "hybrid hatchback", "pickup truck", "compact crossover"),
        brand_suffixes=("Motors", "Automotive", "Cars"),
        audiences=("families_with_children", "young_professionals", "outdoor_adventurers", "retirees"),
    ),
    "toys": Category(
        label="toys",
        noun=("the toy", "the game"),
        details=(
            ("built into a tall colourful tower", "stacked into a tall, bright tower"),
            ("mid-jump over a cushion ramp", "leaping over a ramp of cushions"),
            ("spread out across a rug", "scattered over a carpet"),
            ("with pieces flying in slow motion", "its pieces suspended in mid-air"),
        ),
        settings=(
            ("on a living-room floor", "down on the lounge carpet"),
            ("in a backyard sandpit", "in a garden sandbox"),
            ("at a birthday party", "during a kids' birthday celebration"),
            ("in a classroom corner", "in the corner of a classroom"),
            ("inside a blanket fort", "inside a fort made of sheets"),
            ("at a park playground", "on a public playground"),
        ),
        props=(
            ("a birthday cake with candles", "a candle-lit cake"),
            ("crayons and drawings", "colouring pencils and sketches"),
            ("a cardboard box", "an empty carton"),
            ("a bunch of balloons", "floating balloons"),
            ("a stuffed teddy bear", "a cuddly bear"),
        ),
        actions=(
            ("play on the floor", "play together on the ground"),
            ("build something together", "construct something as a team"),
            ("cheer as the game ends", "celebrate the end of a round"),
        ),
        product_types=("wooden building blocks", "remote-control car", "plush dinosaur", "board game"),
        brand_suffixes=("Toys", "Play", "Games"),
        audiences=("families_with_children", "new_parents", "gen_z_gamers"),
    ),
    "pet_care": Category(
        label="pet care",
        noun=("the pet product", "the pet supplies"),
        details=(
            ("with a dog eagerly waiting beside the bowl", "a hungry dog sitting next to the bowl"),
            ("with a cat stretching up its side", "a cat reaching up along it"),
            ("in use on a muddy walk", "being used on a muddy stroll"),
            ("spilling kibble from the bag", "kibble pouring out of the bag"),
        ),
        settings=(
            ("in a backyard garden", "in a garden behind the house"),
            ("at an off-leash dog park", "at a park where dogs run free"),
            ("in a cosy apartment living room", "inside a snug flat"),
            ("at a vet's reception", "in a veterinary clinic waiting room"),
            ("on a beach walk", "during a stroll on the beach"),
            ("in a pet shop aisle", "down an aisle of a pet store"),
        ),
        props=(
            ("a chew toy", "a rubber toy"),
            ("a leash", "a lead"),
            ("a food bowl", "a feeding dish"),
            ("a pet bed", "a cushioned pet basket"),
            ("a bag of treats", "a pouch of snacks"),
        ),
        actions=(
            ("play fetch with the dog", "throw a ball for the dog"),
            ("cuddle the pet on the sofa", "snuggle the pet on the couch"),
            ("groom the pet", "brush the pet's coat"),
        ),
        product_types=("grain-free dog food", "cat scratching tower", "dog harness", "pet grooming kit"),
        brand_suffixes=("Pet", "Paws", "Pet Care"),
        audiences=("pet_owners", "families_with_children", "retirees"),
    ),
    "jewellery": Category(
        label="jewellery",
        noun=("the jewellery", "the piece"),
        details=(
            ("sparkling on a velvet display", "glittering on velvet"),
            ("catching a single beam of light", "lit by one narrow ray of light"),
            ("worn on a hand resting against a cheek", "on a hand held lightly to the face"),
            ("inside an open gift box", "in a gift box with the lid open"),
        ),
        settings=(
            ("at a dinner table set for two", "over a table laid for a dinner for two"),
            ("in a boutique jeweller", "inside an upscale jewellery shop"),
            ("at a wedding reception", "during a wedding party"),
            ("on a marble vanity", "on a marble dressing table"),
            ("in an art-deco hotel bar", "inside a 1920s-style hotel bar"),
            ("on a city balcony", "on an urban balcony above the streets"),
        ),
        props=(
            ("a glass of champagne", "a flute of bubbly"),
            ("a silk ribbon", "a satin ribbon"),
            ("a handwritten note", "a hand-lettered card"),
            ("a bouquet of peonies", "a bunch of peonies"),
            ("a velvet ring box", "a plush ring case"),
        ),
        actions=(
            ("exchange a gift", "hand each other a present"),
            ("admire the piece in the light", "hold it up to the light"),
            ("embrace", "hug warmly"),
        ),
        product_types=("gold hoop earrings", "diamond pendant", "silver charm bracelet", "signet ring"),
        brand_suffixes=("Jewellers", "Jewels", "Atelier"),
        audiences=("luxury_shoppers", "fashion_shoppers", "young_professionals"),
    ),
}

# Any category name not listed above is described with this vocabulary.
GENERIC_CATEGORY = Category(
    label="product",
    noun=("the product", "the item"),
    details=(
        ("in sharp focus", "shown in crisp detail"),
        ("held up towards the camera", "raised towards the lens"),
        ("on a clean white pedestal", "on a plain plinth"),
        ("beside its packaging", "next to the box it comes in"),
    ),
    settings=(
        ("in a modern photo studio", "inside a contemporary photo studio"),
        ("on a busy city street", "amid the traffic of a downtown street"),
        ("in a cosy living room", "inside a snug lounge"),
        ("in a city park", "on the grass of a public park"),
        ("in a contemporary office", "inside a modern workplace"),
        ("at a weekend market", "among the stalls of a Saturday market"),
    ),
    props=(
        ("a paper shopping bag", "a kraft-paper carrier bag"),
        ("a smartphone", "a mobile phone"),
        ("a potted plant", "a houseplant in a pot"),
        ("a cup of coffee", "a mug of coffee"),
        ("a gift box", "a wrapped present"),
    ),
    actions=(
        ("try the product out", "test the item together"),
        ("unwrap the package", "open the parcel"),
        ("show it to a friend", "pass it around"),
    ),
    product_types=("starter kit", "gift set", "subscription box"),
    brand_suffixes=("Co.", "Goods", "Brands"),
    audiences=("young_professionals", "families_with_children"),
)

# Where each setting is: "out"doors, "in"doors, or a photo "studio"; lighting and seasonal cues follow it.
PLACE_KINDS: dict[str, str] = {
    "on a rain-slicked downtown street": "out",
    "on a forest trail covered in pine needles": "out",
    "on the running track of an empty stadium": "out",
    "on the concrete ramps of a skatepark": "out",
    "in a minimalist sneaker boutique": "in",
    "on a boardwalk beside the sea": "out",
    "in a loft apartment with brick walls": "in",
    "on a busy shopping street": "out",
    "in a fitting room with a tall mirror": "in",
    "at a rooftop party": "out",
    "at a vintage market stall": "out",
    "on a windswept coastal cliff": "out",
    "at a picnic in the park": "out",
    "at a bustling cafe counter": "in",
    "on a poolside lounger": "out",
    "at a backyard barbecue": "out",
    "in a bright modern kitchen": "in",
    "at an outdoor music festival": "out",
    "around a farmhouse dining table": "in",
    "in a busy street-food market": "out",
    "at a campsite with a portable stove": "out",
    "in a compact city kitchen": "in",
    "during an office lunch break": "in",
    "at a small table on a balcony": "out",
    "at a bathroom vanity with a round mirror": "in",
    "in a serene day spa": "in",
    "backstage at a fashion show": "in",
    "on a bathroom windowsill": "in",
    "on a pastel-toned studio set": "studio",
    "in a hotel suite before an evening out": "in",
    "in a tidy home office": "in",
    "on a crowded commuter train": "in",
    "beside a glowing gaming setup": "in",
    "on a rocky mountain summit": "out",
    "in a co-working space": "in",
    "on a dark studio set with a seamless backdrop": "studio",
    "in a Scandinavian-style living room": "in",
    "in a cosy reading nook": "in",
    "in a freshly renovated kitchen": "in",
    "in a small studio apartment": "in",
    "on a covered porch": "out",
    "in a bright kids' bedroom": "in",
    "in an industrial-style gym": "in",
    "in a bright yoga studio": "in",
    "on a quiet beach": "out",
    "in a garage home gym": "in",
    "on a city rooftop": "out",
    "at an outdoor workout station in a park": "out",
    "at an airport departure gate": "in",
    "on a white-sand tropical beach": "out",
    "on a cobblestone old-town square": "out",
    "aboard a train crossing the mountains": "in",
    "at a hotel infinity pool": "out",
    "at a mountain lodge with a valley view": "out",
    "at a kitchen table covered in paperwork": "in",
    "in a glass-walled city office": "in",
    "at the checkout of a small cafe": "in",
    "in a modern bank branch": "in",
    "at a desk in a home study": "in",
    "in front of a newly bought house": "out",
    "on a winding coastal road": "out",
    "in an underground parking garage": "in",
    "on a desert highway": "out",
    "in a sleek showroom": "in",
    "on a suburban driveway": "out",
    "at a mountain pass overlook": "out",
    "on a living-room floor": "in",
    "in a backyard sandpit": "out",
    "at a birthday party": "in",
    "in a classroom corner": "in",
    "inside a blanket fort": "in",
    "at a park playground": "out",
    "in a backyard garden": "out",
    "at an off-leash dog park": "out",
    "in a cosy apartment living room": "in",
    "at a vet's reception": "in",
    "on a beach walk": "out",
    "in a pet shop aisle": "in",
    "at a dinner table set for two": "in",
    "in a boutique jeweller": "in",
    "at a wedding reception": "in",
    "on a marble vanity": "in",
    "in an art-deco hotel bar": "in",
    "on a city balcony": "out",
    "in a modern photo studio": "studio",
    "on a busy city street": "out",
    "in a cosy living room": "in",
    "in a city park": "out",
    "in a contemporary office": "in",
    "at a weekend market": "out",
}
# Details and actions that only make sense outdoors or only indoors (by their first wording); the rest go anywhere.
ONLY_OUTDOORS = frozenset(
    {
        "splashing through a shallow puddle",
        "in use on a muddy walk",
        "with rain beading on the bonnet",
        "its headlights cutting through the dusk",
        "jog in step",
        "play fetch with the dog",
        "take a test drive",
    }
)
ONLY_INDOORS = frozenset(
    {
        "styled on a neatly made bed",
        "at work in the middle of the room",
        "mid-jump over a cushion ramp",
        "relax on the sofa",
        "cuddle the pet on the sofa",
        "play on the floor",
        "unbox it in the hallway",
        "rearrange the room",
        "apply the product in the mirror",
    }
)


def fits(concept: Concept, kind: str) -> bool:
    """Whether a detail or action can appear in a place of this kind (studios count as indoors)."""
    if concept[0] in ONLY_OUTDOORS:
        return kind == "out"
    if concept[0] in ONLY_INDOORS:
        return kind != "out"
    return True


CATEGORY_ALIASES = {
    "shoes": "footwear",
    "sneakers": "footwear",
    "fashion": "apparel",
    "clothing": "apparel",
    "drinks": "beverages",
    "beverage": "beverages",
    "food_and_beverage": "food",
    "groceries": "food",
    "cosmetics": "beauty",
    "skincare": "beauty",
    "consumer_electronics": "electronics",
    "technology": "electronics",
    "home_and_garden": "home",
    "furniture": "home",
    "sports": "fitness",
    "hospitality": "travel",
    "banking": "finance",
    "fintech": "finance",
    "cars": "automotive",
    "games": "toys",
    "pets": "pet_care",
    "pet_supplies": "pet_care",
    "jewelry": "jewellery",
}


def category_for(name: str) -> Category:
    key = to_hashtag(name)[1:]
    return CATEGORIES.get(CATEGORY_ALIASES.get(key, key), GENERIC_CATEGORY)


@dataclass(frozen=True)
class Audience:
    """How a target population looks in a picture; a group persona already names how many people there are."""

    label: str
    personas: Concept
    group: bool = False


AUDIENCES: dict[str, Audience] = {
    "young_professionals": Audience(
        "young professionals",
        ("young professionals in smart-casual clothes", "office workers in their late twenties", "career starters"),
    ),
    "university_students": Audience(
        "university students", ("university students with backpacks", "college students between lectures")
    ),
    "new_parents": Audience(
        "new parents", ("new parents cradling their baby", "a young mum and dad with their newborn"), group=True
    ),
    "families_with_children": Audience(
        "families with children",
        ("parents with their two young children", "a mother, a father and their kids"),
        group=True,
    ),
    "retirees": Audience("retirees", ("active retirees in their sixties", "silver-haired seniors enjoying retirement")),
    "gen_z_gamers": Audience("gen z gamers", ("Gen Z gamers with headsets", "teenage players wearing headphones")),
    "fitness_enthusiasts": Audience(
        "fitness enthusiasts", ("fitness enthusiasts in training gear", "gym-goers in athletic wear")
    ),
    "small_business_owners": Audience(
        "small business owners", ("small business owners in aprons", "independent entrepreneurs holding a tablet")
    ),
    "outdoor_adventurers": Audience(
        "outdoor adventurers", ("outdoor adventurers in hiking gear", "hikers carrying sturdy backpacks")
    ),
    "home_cooks": Audience("home cooks", ("home cooks in linen aprons", "amateur chefs with rolled-up sleeves")),
    "fashion_shoppers": Audience(
        "fashion shoppers", ("style-conscious shoppers in statement outfits", "trend-savvy shoppers in bold fashion")
    ),
    "tech_early_adopters": Audience(
        "tech early adopters", ("tech early adopters with the latest gadgets", "gadget fans wearing smartwatches")
    ),
    "pet_owners": Audience(
        "pet owners", ("pet owners with a golden retriever", "dog lovers with their scruffy terrier")
    ),
    "frequent_travellers": Audience(
        "frequent travellers", ("frequent travellers with carry-on suitcases", "seasoned flyers pulling cabin bags")
    ),
    "luxury_shoppers": Audience(
        "luxury shoppers", ("elegant shoppers in tailored clothes", "well-dressed customers in designer wear")
    ),
}


def audience_for(name: str) -> Audience:
    key = to_hashtag(name)[1:]
    if key in AUDIENCES:
        return AUDIENCES[key]
    label = key.replace("_", " ")
    return Audience(label, (label, f"people from the {label} audience"))


@dataclass(frozen=True)
class Tagged:
    """A concept that also names a classifying hashtag."""

    forms: Concept
    tag: str


SHOTS: tuple[Tagged, ...] = (
    Tagged(("a close-up product shot", "a tight, detailed close-up"), "#close_up"),
    Tagged(("a top-down flat lay", "an overhead arrangement photographed from directly above"), "#flat_lay"),
    Tagged(("a candid lifestyle photograph", "an unposed, everyday-life snapshot"), "#lifestyle"),
    Tagged(("a wide environmental shot", "a broad establishing view"), "#wide_shot"),
    Tagged(("a clean catalogue-style product shot", "a crisp, catalogue-like picture of the product"), "#packshot"),
    Tagged(("a low-angle hero shot", "a dramatic view from below that makes it look monumental"), "#hero_shot"),
    Tagged(("a photorealistic 3D render", "a lifelike computer-generated rendering"), "#3d_render"),
    Tagged(("a split-screen before-and-after image", "a two-panel comparison of before and after"), "#before_after"),
    Tagged(("a shallow depth-of-field portrait", "a portrait with a softly blurred background"), "#portrait"),
    Tagged(("a motion-blurred action shot", "a dynamic frame that freezes movement with streaks of blur"), "#action"),
)

# Lighting by the kind of place it suits: outdoors, indoors, or a photo studio.
LIGHTING: dict[str, tuple[Concept, ...]] = {
    "out": (
        ("warm golden-hour light", "low late-afternoon sun with long amber shadows"),
        ("soft, even overcast light", "diffused daylight from a cloudy sky"),
        ("neon signs and city lights at night", "the glow of night-time street neon"),
        ("bright midday sunshine", "hard noon sun with crisp shadows"),
        ("crisp early-morning light", "cool light just after sunrise"),
        ("blue-hour twilight", "the deep blue dusk right after sunset"),
    ),
    "in": (
        ("natural light from a large window", "daylight pouring through a big window"),
        ("bright overhead lights", "even ceiling lights"),
        ("warm, soft indoor lamps", "a gentle glow from lamps around the room"),
        ("the last warm evening light through the windows", "late-evening sun slanting in through the glass"),
    ),
    "studio": (
        ("moody low-key studio lighting", "a single dramatic spotlight against darkness"),
        ("bright high-key studio lighting", "shadowless, brilliant studio light"),
        ("a large softbox to one side", "one big diffused light panel beside the set"),
        ("coloured gel lights", "lamps filtered through coloured gels"),
    ),
}

GROUP_SIZES: tuple[Concept, ...] = (
    ("two", "a pair of"),
    ("three", "a trio of"),
    ("a small group of", "a handful of"),
    ("four", "a group of four"),
)

SOCIAL_ACTIONS: tuple[Concept, ...] = (
    ("share a laugh", "laugh together"),
    ("look at a smartphone screen together", "lean in over one phone"),
    ("walk side by side", "stroll next to each other"),
    ("high-five after a small win", "celebrate with a high five"),
    ("chat animatedly", "talk with lively gestures"),
    ("pose for a selfie", "squeeze into a selfie"),
    ("point at something out of frame", "gesture towards something just outside the picture"),
    ("pause to rest", "take a breather"),
)

MOODS: tuple[Tagged, ...] = (
    Tagged(("energetic and upbeat", "full of energy and optimism"), "#energetic"),
    Tagged(("calm and serene", "quiet and peaceful"), "#calm"),
    Tagged(("warm and nostalgic", "cosy, with a nostalgic feel"), "#nostalgic"),
    Tagged(("bold and confident", "self-assured and striking"), "#bold"),
    Tagged(("playful and light-hearted", "fun and cheeky"), "#playful"),
    Tagged(("luxurious and refined", "elegant and upscale"), "#luxury"),
    Tagged(("fresh and clean", "crisp and airy"), "#fresh"),
    Tagged(("intimate and tender", "close and affectionate"), "#intimate"),
    Tagged(("adventurous and free", "daring and outdoorsy"), "#adventure"),
    Tagged(("professional and trustworthy", "businesslike and dependable"), "#trustworthy"),
    Tagged(("dreamy and soft", "hazy and romantic"), "#dreamy"),
    Tagged(("gritty and urban", "raw and street-level"), "#urban"),
    Tagged(("joyful and festive", "celebratory and cheerful"), "#joyful"),
    Tagged(("minimalist and modern", "pared-back and contemporary"), "#minimalist"),
)

# Colour names are facts about an image: descriptions and paraphrases both use them as they are.
PALETTES: tuple[tuple[str, str, str], ...] = (
    ("coral", "sand", "teal"),
    ("navy", "cream", "mustard yellow"),
    ("forest green", "cream", "gold"),
    ("burgundy", "blush pink", "charcoal"),
    ("jet black", "silver", "electric blue"),
    ("lavender", "mint", "crisp white"),
    ("terracotta", "olive", "sand"),
    ("sky blue", "crisp white", "tangerine"),
    ("plum", "gold", "jet black"),
    ("cherry red", "crisp white", "navy"),
    ("mint", "coral", "cream"),
    ("charcoal", "lime green", "crisp white"),
    ("teal", "mustard yellow", "plum"),
    ("blush pink", "gold", "cream"),
    ("olive", "tangerine", "charcoal"),
    ("electric blue", "sky blue", "sand"),
)

BUTTONS: tuple[Concept, ...] = (
    ("rounded button", "pill-shaped button"),
    ("outlined button", "button drawn as a thin outline"),
    ("bold banner strip", "full-width band"),
    ("sticker-style badge", "circular sticker"),
)

POSITIONS: tuple[Concept, ...] = (
    ("in the lower right corner", "at the bottom right"),
    ("centred along the bottom edge", "in the middle of the lower edge"),
    ("in the top left corner", "at the upper left"),
    ("just below the product", "directly beneath the product"),
)


@dataclass(frozen=True)
class Layout:
    """An image format a channel uses: file format, pixel size, its name and the compositions that suit it."""

    format: str
    width: int
    height: int
    name: Concept
    compositions: tuple[Concept, ...]


VERTICAL = (
    (
        "with the product in the upper third and clear space at the bottom for captions",
        "keeping the lower part free for on-screen text while the product sits high in the frame",
    ),
    (
        "with the subject centred and safe margins above and below for the app interface",
        "centring the subject and leaving room at the top and bottom for app buttons",
    ),
)
PORTRAIT = (
    (
        "with the product on the left third and the people on the right",
        "putting the product left of centre and the people to its right",
    ),
    (
        "with a strong diagonal leading the eye to the product",
        "using a diagonal line that draws the gaze towards the product",
    ),
)
SQUARE = (
    (
        "with the product dead centre and generous negative space",
        "placing the product in the exact middle, surrounded by empty space",
    ),
    (
        "with a symmetrical layout and the logo along the top",
        "arranged symmetrically with the brand mark across the top",
    ),
)
LANDSCAPE = (
    (
        "with the people on the right and open space on the left for a headline",
        "leaving the left side empty for a headline while the people fill the right",
    ),
    (
        "with a bold headline across the top third",
        "topped by a large headline band",
    ),
)
BANNER = (
    (
        "with the logo on the left, the product in the middle and the offer on the right",
        "reading left to right as brand mark, product, then offer",
    ),
)

CHANNEL_NAMES = {
    "facebook": "Facebook",
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "x": "X",
    "youtube": "YouTube",
    "linkedin": "LinkedIn",
    "influencers": "an influencer partnership",
    "email": "an email newsletter",
    "sms": "an SMS campaign",
    "google_search": "Google Search image ads",
    "display": "programmatic display",
}

CHANNEL_LAYOUTS: dict[str, tuple[Layout, ...]] = {
    "instagram": (
        Layout("jpeg", 1080, 1350, ("a vertical 4:5 feed post", "a portrait-format 4:5 feed image"), PORTRAIT),
        Layout("jpeg", 1080, 1080, ("a square 1:1 feed post", "a 1:1 square tile"), SQUARE),
        Layout("jpeg", 1080, 1920, ("a full-screen 9:16 story", "a tall 9:16 full-screen frame"), VERTICAL),
    ),
    "facebook": (
        Layout("jpeg", 1200, 630, ("a landscape 1.91:1 link image", "a wide link-preview picture"), LANDSCAPE),
        Layout("jpeg", 1080, 1080, ("a square 1:1 feed post", "a 1:1 square tile"), SQUARE),
    ),
    "tiktok": (Layout("jpeg", 1080, 1920, ("a full-screen 9:16 vertical", "a tall 9:16 full-screen frame"), VERTICAL),),
    "x": (Layout("jpeg", 1600, 900, ("a widescreen 16:9 post image", "a wide 16:9 landscape picture"), LANDSCAPE),),
    "youtube": (
        Layout(
            "jpeg",
            1280,
            720,
            ("a 16:9 video thumbnail", "a widescreen thumbnail for a video"),
            (
                (
                    "with an expressive face on the left and three big words on the right",
                    "showing a reacting face on one side and oversized short text on the other",
                ),
                *LANDSCAPE,
            ),
        ),
    ),
    "linkedin": (
        Layout("png", 1200, 627, ("a landscape 1.91:1 sponsored post", "a wide sponsored-content image"), LANDSCAPE),
        Layout("png", 1080, 1080, ("a square 1:1 sponsored post", "a 1:1 square tile"), SQUARE),
    ),
    "influencers": (
        Layout("jpeg", 1080, 1350, ("a vertical 4:5 creator post", "a portrait-format 4:5 creator image"), PORTRAIT),
        Layout("jpeg", 1080, 1920, ("a full-screen 9:16 creator story", "a tall 9:16 story frame"), VERTICAL),
    ),
    "email": (
        Layout(
            "png",
            1200,
            600,
            ("a 2:1 email header banner", "a wide hero image for the top of an email"),
            (
                (
                    "with the headline on the left and the product on the right",
                    "splitting text on the left half and product on the right half",
                ),
                (
                    "with the brand logo centred above a short headline",
                    "placing the logo in the middle over a brief headline",
                ),
            ),
        ),
    ),
    "sms": (
        Layout(
            "jpeg",
            640,
            640,
            ("a compact square picture message", "a small square MMS image"),
            (
                (
                    "with one large product photo and a single offer line",
                    "a single big product picture plus one line of offer text",
                ),
            ),
        ),
    ),
    "google_search": (
        Layout("webp", 1200, 628, ("a landscape 1.91:1 image asset", "a wide search-ad image"), LANDSCAPE),
        Layout("webp", 1200, 1200, ("a square 1:1 image asset", "a square search-ad image"), SQUARE),
    ),
    "display": (
        Layout("webp", 300, 250, ("a medium-rectangle banner", "a medium-rectangle display ad"), SQUARE),
        Layout("webp", 728, 90, ("a leaderboard banner", "a long, thin leaderboard strip"), BANNER),
        Layout("webp", 160, 600, ("a skyscraper banner", "a narrow, tall skyscraper ad"), VERTICAL),
    ),
}
DEFAULT_LAYOUTS = (Layout("jpeg", 1080, 1080, ("a square 1:1 image", "a 1:1 square picture"), SQUARE),)

# Seasonal cues and where they can appear: "any" place, or only "out"doors or "in"doors (studios count as indoors).
SEASON_CUES: dict[str, tuple[tuple[Concept, str], ...]] = {
    "winter": (
        (("chunky knit scarves and woolly hats", "wool scarves and knitted beanies"), "any"),
        (("steaming mugs of cocoa", "hot chocolate in steaming cups"), "any"),
        (("a dusting of snow on the ground", "light snow covering the pavement"), "out"),
        (("frosty breath in the cold air", "visible breath on a freezing day"), "out"),
        (("snow falling outside the window", "snowflakes drifting past the window"), "in"),
    ),
    "spring": (
        (("a vase of fresh tulips", "tulips freshly cut and arranged in a vase"), "any"),
        (("light pastel layers", "thin jackets in pastel shades"), "any"),
        (("cherry blossoms drifting by", "pink blossom petals in the air"), "out"),
        (("a passing spring shower", "a brief April-style shower"), "out"),
        (("blossom branches in a jug", "flowering branches arranged in a pitcher"), "in"),
    ),
    "summer": (
        (("sunglasses and sun-bleached colours", "shades and faded, sun-washed tones"), "any"),
        (("an ice-cold drink", "a frosty glass"), "any"),
        (("long daylight and a late sunset", "a sun that sets late in the evening"), "out"),
        (("beach towels and sandals", "sandals and a striped towel"), "out"),
        (("an electric fan and open windows", "windows flung open and a fan turning"), "in"),
    ),
    "autumn": (
        (("chunky sweaters in rust tones", "thick knitwear in burnt orange"), "any"),
        (("pumpkins and harvest produce", "gourds and harvest baskets"), "any"),
        (("fallen leaves in amber and rust", "a carpet of orange and brown leaves"), "out"),
        (("a bowl of apples beside a lit candle", "apples in a bowl next to a glowing candle"), "in"),
    ),
    "dry_season": (
        (("straw hats and bright tropical flowers", "wide-brim hats and vivid tropical blooms"), "any"),
        (("clear skies and sun-baked earth", "cloudless blue skies over dry ground"), "out"),
        (("ceiling fans turning in the heat", "fans spinning overhead against the heat"), "in"),
    ),
    "rainy_season": (
        (("dripping umbrellas by the door", "wet umbrellas left out to dry"), "any"),
        (("a sudden tropical downpour", "heavy rain falling on lush greenery"), "out"),
        (("rain streaming down the windows", "raindrops running down the glass"), "in"),
    ),
}
SEASON_NAMES = {
    "winter": "winter",
    "spring": "spring",
    "summer": "summer",
    "autumn": "autumn",
    "dry_season": "the dry season",
    "rainy_season": "the rainy season",
}

HOLIDAY_BY_MONTH = {
    1: "new_year",
    2: "valentines_day",
    5: "mothers_day",
    6: "fathers_day",
    7: "summer_sale",
    8: "back_to_school",
    9: "back_to_school",
    10: "halloween",
    11: "black_friday",
    12: "holiday_season",
}
HOLIDAY_CUES: dict[str, Concept] = {
    "new_year": ("confetti and a fresh-start New Year feeling", "a new-year atmosphere with streamers and confetti"),
    "valentines_day": ("hearts and red roses for Valentine's Day", "roses and heart motifs for the lovers' holiday"),
    "mothers_day": ("a bouquet and a handwritten card for Mother's Day", "flowers and a card made for mum"),
    "fathers_day": ("a gift-wrapped box for Father's Day", "a present for dad on Father's Day"),
    "summer_sale": ("bright summer-sale signs", "midsummer sale banners"),
    "back_to_school": (
        "backpacks and notebooks for back to school",
        "school bags and fresh stationery for the new term",
    ),
    "halloween": ("carved pumpkins and Halloween decorations", "jack-o'-lanterns and spooky decor"),
    "black_friday": ("bold Black Friday price tags", "big Black Friday discount signs"),
    "holiday_season": (
        "string lights and wrapped gifts for the holidays",
        "fairy lights, ribbons and festive presents",
    ),
}

CTA_BY_OBJECTIVE: dict[str, tuple[str, ...]] = {
    "awareness": ("Discover the {product}", "Meet {brand}", "See the collection", "Watch the story"),
    "consideration": ("Learn more", "Compare models", "See how it works", "Take the quiz"),
    "conversion": ("Shop now", "Get {pct}% off", "Order today", "Claim your {pct}% discount"),
    "retention": ("Welcome back: {pct}% off", "Reorder in one tap", "Unlock member perks", "Refer a friend"),
}
CTA_BY_CHANNEL: dict[str, tuple[str, ...]] = {
    "sms": ("Reply YES for {pct}% off",),
    "linkedin": ("Book a demo", "Download the guide"),
    "influencers": ("Use code {code} for {pct}% off",),
    "instagram": ("Tap to shop", "Link in bio"),
    "tiktok": ("Tap to shop",),
    "email": ("Open your offer", "Shop the edit"),
    "google_search": ("Find a store near you",),
    "youtube": ("Watch the full video",),
}
CTA_BY_HOLIDAY: dict[str, tuple[str, ...]] = {
    "black_friday": ("Black Friday: {pct}% off",),
    "holiday_season": ("Gift it today",),
    "new_year": ("Start the year with {pct}% off",),
    "valentines_day": ("Say it with {brand}",),
    "mothers_day": ("Treat mum today",),
    "back_to_school": ("Get set for school",),
}

MARKET_CITIES = {
    "US-NY": "New York",
    "US-CA": "Los Angeles",
    "US-TX": "Houston",
    "US-FL": "Miami",
    "US-IL": "Chicago",
    "CA-ON": "Toronto",
    "MX-CMX": "Mexico City",
    "CR-SJ": "San Jose, Costa Rica",
    "CO-DC": "Bogota",
    "ES-MD": "Madrid",
    "GB-LND": "London",
    "BR-SP": "Sao Paulo",
}
COUNTRY_CITIES = {"US": "New York", "CA": "Toronto", "MX": "Mexico City", "CR": "San Jose, Costa Rica"}
COUNTRY_CITIES |= {"CO": "Bogota", "ES": "Madrid", "GB": "London", "BR": "Sao Paulo", "AR": "Buenos Aires"}
MARKET_CODES = tuple(MARKET_CITIES)
CHANNEL_CODES = tuple(CHANNEL_NAMES)
OBJECTIVES = tuple(CTA_BY_OBJECTIVE)

VERSION_NOTES = (
    "colour correction",
    "logo placement adjusted",
    "headline shortened",
    "background retouched",
    "contrast raised for small screens",
    "product re-rendered with sharper detail",
)
APPROVAL_STATES = ("approved", "pending", "draft", "rejected")
APPROVAL_WEIGHTS = (0.7, 0.15, 0.08, 0.07)
LICENCE_KINDS = ("owned", "exclusive", "royalty_free", "rights_managed")
LICENCE_WEIGHTS = (0.55, 0.15, 0.2, 0.1)
BYTES_PER_PIXEL = {"jpeg": 0.35, "png": 1.1, "webp": 0.22}
FILE_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}


@functools.cache
def name_pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Approver names and image-agency names, built once by Faker with a fixed seed (pools only)."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(FAKER_POOL_SEED)
    approvers = tuple(dict.fromkeys(fake.name() for _ in range(60)))[:40]
    suffixes = ("Images", "Stock", "Visuals", "Pictures")
    agencies = tuple(dict.fromkeys(f"{fake.last_name()} {suffixes[i % 4]}" for i in range(16)))
    return approvers, agencies


# --------------------------------------------------------------------------- generated images


@dataclass(frozen=True)
class Phrase:
    """A concept and the wording of it the description used."""

    forms: Concept
    used: int

    @property
    def text(self) -> str:
        return self.forms[self.used]

    def other(self, rng: np.random.Generator) -> str:
        """Another wording of the same idea (the same one when there is only one)."""
        choices = [i for i in range(len(self.forms)) if i != self.used] or [self.used]
        return self.forms[choices[int(rng.integers(len(choices)))]]


@dataclass(frozen=True)
class ImageAttributes:
    """What an image shows, independently of how its description words it."""

    brand: str
    product: str
    city: str
    channel_name: str
    format: str
    width: int
    height: int
    cta: str
    noun: Concept
    shot: Phrase
    detail: Phrase
    setting: Phrase
    lighting: Phrase
    group_size: Phrase | None
    persona: Phrase
    action: Phrase
    props: tuple[Phrase, Phrase]
    mood: Phrase
    colours: tuple[str, str, str]
    layout: Phrase
    composition: Phrase
    season: Phrase
    holiday: Phrase | None
    button: Phrase
    position: Phrase
    place_kind: str
    description_order: tuple[str, ...]


@dataclass(frozen=True)
class GeneratedImage:
    """One PromptContent image document and the attributes its description was built from."""

    document: dict[str, Any]
    attributes: ImageAttributes
    context: CampaignContext
    linked: tuple[CampaignContext, ...] = field(default=())
    hashtags: tuple[Hashtag, ...] = field(default=())


FACETS = ("subject", "setting", "people", "mood", "composition", "season", "cta")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _a(phrase: str) -> str:
    """The phrase with its indefinite article: "an olive", "a teal"."""
    return f"an {phrase}" if phrase[:1].lower() in "aeiou" else f"a {phrase}"


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _pick(rng: np.random.Generator, concept: Concept) -> Phrase:
    return Phrase(concept, int(rng.integers(len(concept))))


def _people(a: ImageAttributes, *, alternative: np.random.Generator | None = None) -> str:
    def say(phrase: Phrase) -> str:
        return phrase.other(alternative) if alternative is not None else phrase.text

    persona = say(a.persona)
    return persona if a.group_size is None else f"{say(a.group_size)} {persona}"


def _description_sentence(facet: str, a: ImageAttributes, variant: int) -> str:
    colours = list(a.colours)
    holiday = f", plus {a.holiday.text}" if a.holiday else ""
    sentences = {
        "subject": (
            f"{_cap(a.shot.text)} of {_possessive(a.brand)} {a.product}, {a.detail.text}.",
            f"{_possessive(a.brand)} {a.product} is featured in {a.shot.text}, {a.detail.text}.",
        ),
        "setting": (
            f"The scene is set {a.setting.text} in {a.city}, lit by {a.lighting.text}.",
            f"It takes place {a.setting.text} in {a.city} under {a.lighting.text}.",
        ),
        "people": (
            f"{_cap(_people(a))} {a.action.text}, with {a.props[0].text} and {a.props[1].text} nearby.",
            f"In the frame, {_people(a)} {a.action.text} while {a.props[0].text} and {a.props[1].text} sit close by.",
        ),
        "mood": (
            f"The mood is {a.mood.text}, built on a palette of {colours[0]}, {colours[1]} and {colours[2]}.",
            f"It feels {a.mood.text}; the palette combines {colours[0]}, {colours[1]} and {colours[2]}.",
        ),
        "composition": (
            f"Composed as {a.layout.text} for {a.channel_name}, {a.composition.text}.",
            f"The image is {a.layout.text} for {a.channel_name}, {a.composition.text}.",
        ),
        "season": (
            f"Seasonal touches include {a.season.text}{holiday}.",
            f"The time of year shows in {a.season.text}{holiday}.",
        ),
        "cta": (
            f'{_cap(_a(colours[0]))} {a.button.text} {a.position.text} reads "{a.cta}".',
            f'The call to action "{a.cta}" sits on {_a(colours[0])} {a.button.text} {a.position.text}.',
        ),
    }
    return sentences[facet][variant]


def describe(attributes: ImageAttributes, variants: Sequence[int]) -> str:
    """The description of an image: one sentence per facet, in the image's description order."""
    return " ".join(
        _description_sentence(facet, attributes, variant)
        for facet, variant in zip(attributes.description_order, variants, strict=True)
    )


def paraphrase(image: GeneratedImage | ImageAttributes, rng: np.random.Generator) -> str:
    """The same image described again: other wordings of every attribute, other sentence shapes and order."""
    a = image.attributes if isinstance(image, GeneratedImage) else image
    colours = list(a.colours)
    holiday = a.holiday.other(rng) if a.holiday else None
    props = [p.other(rng) for p in a.props]
    people = _people(a, alternative=rng)
    noun = a.noun[int(rng.integers(len(a.noun)))]
    sentences = {
        "subject": (
            f"The focus is the {a.product} from {a.brand}, {a.detail.other(rng)}, captured as {a.shot.other(rng)}.",
            f"Here {a.brand} shows off {noun}, the {a.product}, through {a.shot.other(rng)}, {a.detail.other(rng)}.",
        ),
        "setting": (
            f"Picture it {a.setting.other(rng)} in {a.city}, with {a.lighting.other(rng)}.",
            f"Everything happens {a.setting.other(rng)}, {a.city}, bathed in {a.lighting.other(rng)}.",
        ),
        "people": (
            f"{_cap(people)} {a.action.other(rng)}; {props[0]} and {props[1]} can be spotted around them.",
            f"Around {props[0]} and {props[1]}, {people} {a.action.other(rng)}.",
        ),
        "mood": (
            f"Overall the picture feels {a.mood.other(rng)}, in {colours[0]}, {colours[1]} and {colours[2]} tones.",
            f"Colours lean towards {colours[0]}, {colours[1]} and {colours[2]}, and the atmosphere is"
            f" {a.mood.other(rng)}.",
        ),
        "composition": (
            f"Intended for {a.channel_name}, it is {a.layout.other(rng)}, {a.composition.other(rng)}.",
            f"Format: {a.layout.other(rng)} for {a.channel_name}, {a.composition.other(rng)}.",
        ),
        "season": (
            f"You can tell the season from {a.season.other(rng)}" + (f", along with {holiday}." if holiday else "."),
            f"The time of year comes through in {a.season.other(rng)}" + (f"; note {holiday}." if holiday else "."),
        ),
        "cta": (
            f'On {_a(colours[0])} {a.button.other(rng)} {a.position.other(rng)}, the words "{a.cta}" invite the viewer'
            " to act.",
            f'"{a.cta}" is the prompt, shown {a.position.other(rng)} on {_a(colours[0])} {a.button.other(rng)}.',
        ),
    }
    order = list(FACETS)
    while True:
        order = [order[i] for i in rng.permutation(len(order))]
        if tuple(order) != a.description_order:
            break
    return " ".join(sentences[facet][int(rng.integers(2))] for facet in order)


def _cta_pool(context: CampaignContext) -> tuple[str, ...]:
    pool = CTA_BY_OBJECTIVE.get(context.objective, CTA_BY_OBJECTIVE["conversion"])
    return pool + CTA_BY_CHANNEL.get(context.channel, ()) + CTA_BY_HOLIDAY.get(context.holiday or "", ())


def _cta_text(context: CampaignContext, template: str, rng: np.random.Generator) -> str:
    pct = (10, 15, 20, 25, 30, 40)[int(rng.integers(6))]
    initials = "".join(word[0] for word in context.brand.split() if word[:1].isalpha()).upper()
    return template.format(product=context.product, brand=context.brand, pct=pct, code=f"{initials}{pct}")


def _image_id(seed: int, position: int, created_at: datetime) -> ObjectId:
    """A deterministic ObjectId: 4 bytes of creation time (as MongoDB makes them), then 8 from seed and position."""
    digest = hashlib.sha256(f"promptcontent:image:{seed}:{position}".encode()).hexdigest()
    return ObjectId(f"{int(created_at.timestamp()):08x}{digest[:16]}")


HASHTAG_LIMITS = (5, 12)


def _hashtags(
    context: CampaignContext,
    linked: Sequence[CampaignContext],
    attributes: ImageAttributes,
    extra_count: int,
) -> list[Hashtag]:
    """The campaign's classifying hashtags first, then up to *extra_count* from what the image shows (5 to 12)."""
    category = category_for(context.product_category)
    label = category.label if category is not GENERIC_CATEGORY else context.product_category
    audience = audience_for(context.audience).label
    base: list[Hashtag] = [
        (to_hashtag(context.brand), "brand", f"Brand: {context.brand}"),
        (to_hashtag(context.channel), "channel", f"Channel: {attributes.channel_name}"),
        (to_hashtag(context.campaign_name), "theme", f"Campaign: {context.campaign_name} ({context.brand})"),
        (to_hashtag(context.product), "product", f"Product: {context.product} ({context.brand})"),
        (to_hashtag(context.product_category), "product", f"Product category: {label}"),
        (to_hashtag(audience), "audience", f"Audience: {audience}"),
        (to_hashtag(context.season), "season", f"Season: {SEASON_NAMES[context.season]}"),
    ]
    if context.holiday:
        base.append((to_hashtag(context.holiday), "season", f"Seasonal moment: {context.holiday.replace('_', ' ')}"))
    for other in linked:
        base.append(
            (to_hashtag(other.channel), "channel", f"Channel: {CHANNEL_NAMES.get(other.channel, other.channel)}")
        )
        base.append((to_hashtag(other.campaign_name), "theme", f"Campaign: {other.campaign_name} ({other.brand})"))
    shot = next(shot for shot in SHOTS if shot.forms == attributes.shot.forms)
    mood = next(mood for mood in MOODS if mood.forms == attributes.mood.forms)
    place = {"out": "outdoors", "in": "indoors", "studio": "studio"}[attributes.place_kind]
    city = attributes.city.split(",")[0]
    extras: list[Hashtag] = [
        (shot.tag, "theme", f"Shot: {shot.forms[0]}"),
        (mood.tag, "mood", f"Mood: {mood.forms[0]}"),
        (to_hashtag(place), "theme", f"Setting: {place}"),
        (to_hashtag(city), "theme", f"Market city: {city}"),
    ][:extra_count]
    chosen: dict[str, Hashtag] = {}
    for entry in base + extras:
        chosen.setdefault(entry[0], entry)
    return list(chosen.values())[: HASHTAG_LIMITS[1]]


@dataclass
class _Deck:
    """One campaign's shuffled pools; its j-th image takes the j-th card of each (cyclically) that fits."""

    cards: dict[str, np.ndarray]

    def deal(self, name: str, j: int, fits_card: Callable[[int], bool] | None = None) -> int:
        cards = [int(card) for card in self.cards[name]]
        if fits_card is not None:
            cards = [card for card in cards if fits_card(card)] or cards
        return cards[j % len(cards)]


def _new_deck(context: CampaignContext, rng: np.random.Generator) -> _Deck:
    category = category_for(context.product_category)
    layouts = CHANNEL_LAYOUTS.get(context.channel, DEFAULT_LAYOUTS)
    sizes = {
        "layout": len(layouts),
        "composition": max(len(layout.compositions) for layout in layouts),
        "props": len(category.props),
        "group": len(GROUP_SIZES),
        "season": len(SEASON_CUES[context.season]),
        "cta": len(_cta_pool(context)),
        "button": len(BUTTONS),
        "position": len(POSITIONS),
        "shot": len(SHOTS),
        "setting": len(category.settings),
        "mood": len(MOODS),
        "palette": len(PALETTES),
        "detail": len(category.details),
        "action": len(category.actions) + len(SOCIAL_ACTIONS),
    } | {f"lighting_{kind}": len(pool) for kind, pool in LIGHTING.items()}
    deck = _Deck({name: rng.permutation(size) for name, size in sizes.items()})
    # A campaign words its audience, holiday and formats one way across all of its images, as a brief would.
    deck.cards["persona_wording"] = rng.integers(0, len(audience_for(context.audience).personas), size=1)
    deck.cards["holiday_wording"] = rng.integers(0, 2, size=1)
    deck.cards["layout_wording"] = rng.integers(0, 2, size=1)
    return deck


def _attributes(context: CampaignContext, deck: _Deck, j: int, rng: np.random.Generator) -> ImageAttributes:
    """What the j-th image of a campaign shows; the place decides the lighting, seasonal cue, detail and action."""
    category = category_for(context.product_category)
    audience = audience_for(context.audience)
    layouts = CHANNEL_LAYOUTS.get(context.channel, DEFAULT_LAYOUTS)
    layout = layouts[deck.deal("layout", j)]
    setting = category.settings[deck.deal("setting", j)]
    kind = PLACE_KINDS.get(setting[0], "in")
    indoors = kind != "out"
    actions = category.actions + SOCIAL_ACTIONS
    cues = SEASON_CUES[context.season]
    props = deck.cards["props"]
    # Consecutive pairs of one permutation: a campaign's images rarely share both props.
    prop_pair = (int(props[(2 * j) % len(props)]), int(props[(2 * j + 1) % len(props)]))
    compositions = layout.compositions
    holiday_cue = HOLIDAY_CUES[context.holiday] if context.holiday else None
    order = ("subject", *[("setting", "people", "mood", "season")[k] for k in rng.permutation(4)], "composition", "cta")
    return ImageAttributes(
        brand=context.brand,
        product=context.product,
        city=MARKET_CITIES.get(context.market, COUNTRY_CITIES.get(context.country_code, context.market)),
        channel_name=CHANNEL_NAMES.get(context.channel, context.channel.replace("_", " ")),
        format=layout.format,
        width=layout.width,
        height=layout.height,
        cta=_cta_text(context, _cta_pool(context)[deck.deal("cta", j)], rng),
        noun=category.noun,
        shot=_pick(rng, SHOTS[deck.deal("shot", j)].forms),
        detail=_pick(rng, category.details[deck.deal("detail", j, lambda c: fits(category.details[c], kind))]),
        setting=_pick(rng, setting),
        lighting=_pick(rng, LIGHTING[kind][deck.deal(f"lighting_{kind}", j)]),
        group_size=None if audience.group else _pick(rng, GROUP_SIZES[deck.deal("group", j)]),
        persona=Phrase(audience.personas, int(deck.cards["persona_wording"][0])),
        action=_pick(rng, actions[deck.deal("action", j, lambda c: fits(actions[c], kind))]),
        props=(_pick(rng, category.props[prop_pair[0]]), _pick(rng, category.props[prop_pair[1]])),
        mood=_pick(rng, MOODS[deck.deal("mood", j)].forms),
        colours=PALETTES[deck.deal("palette", j)],
        layout=Phrase(layout.name, int(deck.cards["layout_wording"][0]) % len(layout.name)),
        composition=_pick(rng, compositions[deck.deal("composition", j) % len(compositions)]),
        season=_pick(rng, cues[deck.deal("season", j, lambda c: cues[c][1] in ("any", "in" if indoors else "out"))][0]),
        holiday=Phrase(holiday_cue, int(deck.cards["holiday_wording"][0]) % len(holiday_cue)) if holiday_cue else None,
        button=_pick(rng, BUTTONS[deck.deal("button", j)]),
        position=_pick(rng, POSITIONS[deck.deal("position", j)]),
        place_kind=kind,
        description_order=order,
    )


@dataclass(frozen=True)
class _Draws:
    """The per-image numbers, drawn for all images at once."""

    approval_states: np.ndarray
    licence_kinds: np.ndarray
    version_counts: np.ndarray
    lead_days: np.ndarray
    lead_seconds: np.ndarray
    byte_factors: np.ndarray
    link_draws: np.ndarray
    extra_counts: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, count: int) -> _Draws:
        return cls(
            approval_states=rng.choice(len(APPROVAL_STATES), size=count, p=APPROVAL_WEIGHTS),
            licence_kinds=rng.choice(len(LICENCE_KINDS), size=count, p=LICENCE_WEIGHTS),
            version_counts=rng.integers(1, 4, size=count),
            lead_days=rng.integers(3, 31, size=count),
            lead_seconds=rng.integers(0, 9 * 3600, size=count),
            byte_factors=rng.uniform(0.7, 1.3, size=count),
            link_draws=rng.random(size=count),
            extra_counts=rng.integers(0, 5, size=count),
        )


def _document(
    seed: int,
    i: int,
    context: CampaignContext,
    linked: tuple[CampaignContext, ...],
    attributes: ImageAttributes,
    description: str,
    hashtags: list[str],
    draws: _Draws,
    rng: np.random.Generator,
) -> dict[str, Any]:
    approvers, agencies = name_pools()
    everyone = (context, *linked)
    # Content is made before the campaign starts: days ahead, during the working day (UTC).
    launch = datetime.combine(context.starts_on, time(8, 0), tzinfo=UTC)
    created_at = launch - timedelta(days=int(draws.lead_days[i])) + timedelta(seconds=int(draws.lead_seconds[i]))
    image_id = _image_id(seed, i, created_at)
    folder = f"{URL_BASE}/{to_hashtag(context.brand)[1:]}/{context.campaign_id}/{image_id}"
    extension = FILE_EXTENSIONS[attributes.format]
    versions: list[dict[str, Any]] = []
    moment = created_at
    notes = rng.permutation(len(VERSION_NOTES))
    last = int(draws.version_counts[i])
    for number in range(1, last + 1):
        if number > 1:
            moment = moment + timedelta(hours=int(rng.integers(2, 73)))
        note = "first render" if number == 1 else VERSION_NOTES[int(notes[number - 2])]
        if linked and number == last:
            note = f"{note}; reused for {CHANNEL_NAMES.get(linked[0].channel, linked[0].channel)}"
        versions.append(
            {"version": number, "url": f"{folder}-v{number}.{extension}", "created_at": moment, "note": note}
        )

    state = APPROVAL_STATES[int(draws.approval_states[i])]
    decided = moment + timedelta(hours=int(rng.integers(1, 49)))
    approver = None if state == "draft" else approvers[int(rng.integers(len(approvers)))]

    kind = LICENCE_KINDS[int(draws.licence_kinds[i])]
    territories = {c.country_code for c in everyone}
    if kind == "royalty_free":
        territories |= {MARKET_CODES[int(k)].split("-")[0] for k in rng.choice(len(MARKET_CODES), 3, replace=False)}
    start = datetime.combine(context.starts_on, time(0, 0), tzinfo=UTC)
    expires_on = {
        "owned": None,
        "royalty_free": None,
        "exclusive": start + timedelta(days=730),
        "rights_managed": start + timedelta(days=(180, 365)[int(rng.integers(2))]),
    }[kind]
    holder = context.brand if kind in ("owned", "exclusive") else agencies[int(rng.integers(len(agencies)))]
    return {
        "_id": image_id,
        "url": versions[-1]["url"],
        "format": attributes.format,
        "width": attributes.width,
        "height": attributes.height,
        "bytes": int(attributes.width * attributes.height * BYTES_PER_PIXEL[attributes.format] * draws.byte_factors[i]),
        "alt_text": f"{_cap(attributes.shot.forms[0])} of {context.brand} {context.product}"
        f" {attributes.setting.forms[0]}",
        "description": description,
        "hashtags": hashtags,
        "campaign_ids": [c.campaign_id for c in everyone],
        "brand": context.brand,
        "product": context.product,
        "audiences": list(dict.fromkeys(c.audience for c in everyone)),
        "channels": list(dict.fromkeys(c.channel for c in everyone)),
        "versions": versions,
        "approval": {"state": state, "approver": approver, "approved_at": decided if state == "approved" else None},
        "licence": {"kind": kind, "holder": holder, "expires_on": expires_on, "territories": sorted(territories)},
        "description_sha256": description_sha256(description, EMBEDDING_MODEL_NAME),
        "created_at": created_at,
        "updated_at": decided if state in ("approved", "rejected") else moment,
    }


def generate_images(seed: int, contexts: Sequence[CampaignContext], count: int) -> list[GeneratedImage]:
    """*count* image documents for *contexts*: every context gets at least one when count allows.

    Within a campaign, scenes, shots, moods, palettes, lighting and calls to action are dealt from shuffled
    pools, so a campaign's images differ from each other the way a real creative set does. About one image in
    seven of a brand with several campaigns is reused by a second campaign of that brand.
    """
    if not contexts:
        raise ValueError("generate_images needs at least one campaign context")
    if count < 1:
        raise ValueError(f"generate_images needs a positive count, got {count}")
    rng = np.random.default_rng(seed)
    n = len(contexts)
    owners = np.concatenate([np.arange(min(count, n)), rng.integers(0, n, size=max(0, count - n))]).astype(np.int64)
    draws = _Draws.draw(rng, count)
    decks = [_new_deck(context, rng) for context in contexts]
    by_brand: dict[str, list[int]] = {}
    for position, context in enumerate(contexts):
        by_brand.setdefault(context.brand, []).append(position)
    dealt_so_far = [0] * n

    images: list[GeneratedImage] = []
    for i, owner in enumerate(owners.tolist()):
        context = contexts[owner]
        j = dealt_so_far[owner]
        dealt_so_far[owner] += 1
        attributes = _attributes(context, decks[owner], j, rng)
        description = describe(attributes, [int(v) for v in rng.integers(0, 2, size=len(FACETS))])
        siblings = [k for k in by_brand[context.brand] if k != owner]
        reused = siblings and draws.link_draws[i] < 0.15
        linked = (contexts[siblings[int(rng.integers(len(siblings)))]],) if reused else ()
        hashtags = _hashtags(context, linked, attributes, int(draws.extra_counts[i]))
        document = _document(seed, i, context, linked, attributes, description, [h[0] for h in hashtags], draws, rng)
        images.append(GeneratedImage(document, attributes, context, linked, tuple(hashtags)))
    return images


def hashtag_taxonomy(images: Sequence[GeneratedImage]) -> list[dict[str, Any]]:
    """The `hashtags` collection entries for every hashtag the images carry, sorted by hashtag.

    A hashtag's `updated_at` is the creation time of the first image that carries it.
    """
    entries: dict[str, dict[str, Any]] = {}
    for image in images:
        for tag, category, meaning in image.hashtags:
            entry = entries.setdefault(tag, {"hashtag": tag, "category": category, "description": meaning})
            first = image.document["created_at"]
            entry["updated_at"] = min(entry.get("updated_at", first), first)
    return [entries[tag] for tag in sorted(entries)]


def generate_image_documents(seed: int, contexts: Sequence[CampaignContext], count: int) -> list[dict[str, Any]]:
    """The documents of generate_images, ready for the PromptContent `images` collection."""
    return [image.document for image in generate_images(seed, contexts, count)]


# --------------------------------------------------------------------------- sample campaign contexts

BRAND_STEMS = (
    "Aurora", "Kestrel", "Lumen", "Solstice", "Verdant", "Halcyon", "Northwind", "Bluefin", "Copperleaf",
    "Driftwood", "Emberly", "Fable", "Granite", "Harbor", "Juniper", "Kinetic", "Meridian", "Nimbus",
    "Orchard", "Pioneer", "Quill", "Riverstone", "Sable", "Tidal", "Vantage", "Willow", "Zephyr", "Alder",
    "Beacon", "Cascade",
)  # fmt: skip
PRODUCT_MODELS = ("Glide", "Pulse", "Nova", "Strata", "Echo", "Aero", "Terra", "Flux", "Crest", "Orbit", "Halo")
MODEL_SUFFIXES = ("", " 2", " 3", " Pro", " Lite", " X")
# Start months weighted towards December, January and June: the campaign calendar's three peaks.
MONTH_WEIGHTS = np.array([3.0, 1.0, 1.0, 1.0, 1.0, 2.5, 1.0, 1.0, 1.0, 1.0, 1.2, 3.5])


def sample_campaign_contexts(seed: int, count: int) -> list[CampaignContext]:
    """Campaign contexts for tests and demos until the full data generator supplies the real ones.

    Brands run one to three campaigns each; months lean towards the December, January and June peaks;
    every start date lies between July 2024 and January 2026.
    """
    if count < 1:
        raise ValueError(f"sample_campaign_contexts needs a positive count, got {count}")
    rng = np.random.default_rng(seed)
    category_keys = sorted(CATEGORIES)
    months = np.arange(1, 13)
    contexts: list[CampaignContext] = []
    brands: list[tuple[str, str, str]] = []  # (brand, category key, product)
    used_names: set[tuple[str, str]] = set()
    stems = [BRAND_STEMS[int(k)] for k in rng.permutation(len(BRAND_STEMS))]
    for campaign_id in range(1, count + 1):
        if brands and (len(stems) == 0 or rng.random() < 0.4):
            brand, key, product = brands[int(rng.integers(len(brands)))]
        else:
            key = category_keys[int(rng.integers(len(category_keys)))]
            category = CATEGORIES[key]
            stem = stems.pop() if stems else f"Brand {campaign_id}"
            brand = f"{stem} {category.brand_suffixes[int(rng.integers(len(category.brand_suffixes)))]}"
            model = PRODUCT_MODELS[int(rng.integers(len(PRODUCT_MODELS)))]
            model += MODEL_SUFFIXES[int(rng.integers(len(MODEL_SUFFIXES)))]
            product = f"{model} {category.product_types[int(rng.integers(len(category.product_types)))]}"
            brands.append((brand, key, product))
        category = CATEGORIES[key]
        month = int(rng.choice(months, p=MONTH_WEIGHTS / MONTH_WEIGHTS.sum()))
        # July 2024 .. January 2026: months before July exist only in 2025; January in 2025 or 2026.
        year = 2025 if month < 7 else 2024 + int(rng.integers(2))
        if month == 1:
            year = 2025 + int(rng.integers(2))
        starts_on = date(year, month, int(rng.integers(1, 29)))
        holiday = HOLIDAY_BY_MONTH.get(month)
        market = MARKET_CODES[int(rng.integers(len(MARKET_CODES)))]
        moment = (holiday or season_for(market[:2], month)).replace("_", " ").title()
        base = name = f"{brand.split()[0]} {moment} {year}"
        wave = 1
        while (brand, name) in used_names:  # campaign names are unique per brand, as PromptAds requires
            wave += 1
            name = f"{base} Wave {wave}"
        used_names.add((brand, name))
        contexts.append(
            CampaignContext(
                campaign_id=campaign_id,
                campaign_name=name,
                brand=brand,
                product=product,
                product_category=key,
                audience=category.audiences[int(rng.integers(len(category.audiences)))],
                channel=CHANNEL_CODES[int(rng.integers(len(CHANNEL_CODES)))],
                market=market,
                starts_on=starts_on,
                objective=OBJECTIVES[int(rng.integers(len(OBJECTIVES)))],
            )
        )
    return contexts

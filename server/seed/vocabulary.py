"""The words of the demo catalog: departments, what they sell, names and reviews."""

from __future__ import annotations

from dataclasses import dataclass

from models.orders import CancelReason, OrderStatus


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(","))


@dataclass(frozen=True)
class Assortment:
    """What the products of one category are: department (SKU, prices) and nouns."""

    department: Department
    nouns: tuple[str, ...]


@dataclass(frozen=True)
class Department:
    """A root category, its subcategories and what each of them sells."""

    name: str
    code: str  # the SKU prefix
    shelves: tuple[tuple[str, tuple[str, ...]], ...]  # (subcategory, product nouns)
    price_range_minor: tuple[int, int]

    def everything(self) -> Assortment:
        return Assortment(self, tuple(noun for _shelf, nouns in self.shelves for noun in nouns))


def _department(name: str, code: str, shelves: str, low: int, high: int) -> Department:
    """`shelves` reads "Subcategory: Noun, Noun; Subcategory: Noun"."""
    parsed = []
    for shelf in shelves.split(";"):
        subcategory, nouns = shelf.split(":")
        parsed.append((subcategory.strip(), _words(nouns)))
    return Department(name, code, tuple(parsed), (low, high))


DEPARTMENTS = (
    _department(
        "Home & Kitchen", "HOM",
        "Cookware: Skillet, Saucepan, Stockpot, Dutch Oven;"
        " Tableware: Dinner Plate, Mug, Serving Bowl, Teapot;"
        " Storage: Storage Jar, Bread Bin, Spice Rack;"
        " Lighting: Table Lamp, Floor Lamp, Pendant Light;"
        " Bedding: Duvet Cover, Pillowcase Set, Throw Blanket;"
        " Bath: Bath Towel, Bath Mat, Soap Dispenser",
        800, 12000,
    ),
    _department(
        "Electronics", "ELE",
        "Audio: Headphones, Bluetooth Speaker, Earbuds;"
        " Cameras: Action Camera, Camera Strap, Tripod;"
        " Computer Accessories: Keyboard, Mouse, USB-C Hub, Laptop Stand;"
        " Phones & Tablets: Phone Case, Wireless Charger, Power Bank;"
        " Smart Home: Smart Plug, Smart Bulb, Video Doorbell",
        1500, 60000,
    ),
    _department(
        "Outdoors", "OUT",
        "Camping: Tent, Sleeping Bag, Camp Stove, Headlamp;"
        " Cycling: Bike Light, Bike Lock, Cycling Gloves;"
        " Garden: Trowel, Watering Can, Planter;"
        " Climbing: Climbing Rope, Chalk Bag, Harness;"
        " Fishing: Fishing Rod, Tackle Box, Landing Net",
        900, 45000,
    ),
    _department(
        "Clothing", "CLO",
        "Outerwear: Rain Jacket, Parka, Gilet;"
        " Footwear: Sneakers, Boots, Sandals;"
        " Accessories: Scarf, Belt, Beanie;"
        " Knitwear: Sweater, Cardigan, Knit Vest;"
        " Basics: T-Shirt, Hoodie, Socks",
        900, 25000,
    ),
    _department(
        "Books & Stationery", "BKS",
        "Notebooks: Notebook, Journal, Sketchbook;"
        " Pens: Fountain Pen, Gel Pen Set, Marker Set;"
        " Art Supplies: Watercolour Set, Brush Set, Easel;"
        " Planners: Weekly Planner, Wall Calendar, Desk Organiser;"
        " Cookbooks: Baking Cookbook, Vegetarian Cookbook",
        300, 6000,
    ),
    _department(
        "Sports & Fitness", "SPT",
        "Yoga: Yoga Mat, Yoga Block, Meditation Cushion;"
        " Running: Running Shoes, Running Belt, Sports Watch;"
        " Strength: Dumbbell Set, Kettlebell, Resistance Band;"
        " Team Sports: Football, Basketball, Shin Guards;"
        " Swimming: Swim Goggles, Swim Cap, Kickboard",
        500, 30000,
    ),
    _department(
        "Toys & Games", "TOY",
        "Board Games: Board Game, Card Game, Chess Set;"
        " Puzzles: Jigsaw Puzzle, Puzzle Cube, Brain Teaser;"
        " Building Sets: Building Set, Marble Run, Wooden Train;"
        " Plush: Plush Bear, Plush Fox, Plush Whale;"
        " Outdoor Play: Kite, Frisbee, Water Blaster",
        400, 9000,
    ),
)  # fmt: skip
ADJECTIVES = _words(
    "Classic, Compact, Deluxe, Everyday, Lightweight, Premium, Rugged, Slim, Vintage, Modern,"
    " Essential, Pro, Eco, Heritage, Nordic, Urban"
)
COLOURS = _words(
    "Navy, Sage, Charcoal, Terracotta, Ivory, Slate, Forest, Sand, Crimson, Ocean, Stone,"
    " Midnight, Amber, Graphite, Olive, Coral"
)
USES = _words(
    "everyday use, weekend trips, small spaces, gifting, beginners, seasoned enthusiasts,"
    " busy mornings, the whole family"
)
FEATURES = (
    "Built to last, with a two-year warranty.",
    "Easy to clean and easy to store.",
    "Designed in-house and tested by our team.",
    "Made from responsibly sourced materials.",
    "Ships in plastic-free packaging.",
    "Backed by free returns within 30 days.",
)
FIRST_NAMES = _words(
    "Ada, Ben, Chloe, Dev, Elena, Farah, Gus, Hana, Ivan, Jade, Kofi, Lena, Mateo, Nora, Omar,"
    " Priya, Quinn, Rosa, Sami, Tess, Umar, Vera, Wei, Ximena, Yusuf, Zoe"
)
LAST_NAMES = _words(
    "Andersen, Brown, Chen, Dubois, Esposito, Fischer, Garcia, Haddad, Ito, Jensen, Kowalski,"
    " Lopez, Murphy, Nakamura, Okafor, Patel, Quispe, Rossi, Silva, Tanaka, Usman, Varga,"
    " Williams, Yilmaz"
)
REVIEW_OPENINGS = {
    1: ("Very disappointed.", "Would not buy again.", "Broke within a week."),
    2: ("Not great.", "Expected more for the price.", "It does the job, barely."),
    3: ("It's fine.", "Decent, nothing special.", "Mixed feelings about this one."),
    4: ("Really good.", "Happy with this purchase.", "Solid and well made."),
    5: ("Absolutely love it!", "Best purchase this year.", "Exceeded my expectations."),
}
REVIEW_DETAILS = (
    "Arrived quickly and well packed.",
    "The quality is what you would expect.",
    "Looks exactly like the photos.",
    "Sizing runs a little small.",
    "I use it every day.",
    "Bought a second one as a gift.",
    "Customer service was helpful.",
    "The finish feels premium.",
    "Took a while to arrive.",
    "Instructions could be clearer.",
)
# Ratings lean positive, as in most shops; each product then shifts them a little.
RATING_WEIGHTS = (4, 6, 12, 33, 45)
ITEM_COUNT_WEIGHTS = (45, 30, 15, 10)
QUANTITY_WEIGHTS = (60, 22, 10, 5, 3)
# The history ended long ago: an order left unpaid in it has expired by now.
STATUS_WEIGHTS: dict[tuple[OrderStatus, CancelReason | None], int] = {
    (OrderStatus.PAID, None): 15,
    (OrderStatus.SHIPPED, None): 15,
    (OrderStatus.DELIVERED, None): 50,
    (OrderStatus.CANCELLED, CancelReason.EXPIRED): 10,
    (OrderStatus.CANCELLED, CancelReason.CUSTOMER): 10,
}

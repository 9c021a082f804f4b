#!/usr/bin/env python
"""Build the two small review data sets, review_spam_v1 and review_abuse_v1, and their policy cases.

    .venv/bin/python data/tools/build_review_sets.py            # writes the files listed below
    .venv/bin/python data/tools/build_review_sets.py --check    # builds in memory, prints the figures only

Writes
    data/review_spam/listings.jsonl, data/review_spam/teacher_labels.jsonl      (policy conf/policy/review_spam_v1.yaml)
    data/review_abuse/listings.jsonl, data/review_abuse/teacher_labels.jsonl    (policy conf/policy/review_abuse_v1.yaml)
    data/policy_cases/review_spam_v1.jsonl, data/policy_cases/review_abuse_v1.jsonl
    data/review_spam/stats.json, data/review_abuse/stats.json

Why: both sets exist to check that the training recipe learns on a *small* label space of a user's
own (one policy; two policies), with few positives, instead of collapsing to a constant model.

What is in here (see data/README.md, "The review sets"):

* ``TRAIN_*``: hand-written training texts (short buyer reviews and messages on a US marketplace), each
  labelled by its author: genuine reviews per category, allowed look-alikes of spam (prices, brands,
  in-app chat, the shop's own pages, sizes and model numbers) and of abuse (harsh but civil
  complaints, slang such as "killer deal"), spam per clause, abuse per clause, and a few texts that
  are both.
* ``FRAG_*``: hand-written sentence fragments that the generator recombines into further reviews
  (opener + 1-3 aspects of one sentiment + question + closer; spam = praise + hook + a generated
  handle or link + call to action; abuse = complaint + an abusive line), then roughens (typos,
  lower case, a shouted word, emoji, missing final stop, "u"/"ur"). A composite's labels follow
  from its parts: only the spam hooks carry spam, only the abusive lines carry abuse.
* ``HELDOUT_*``: hand-written policy cases, written separately; no training text or fragment is used
  in them, and the build refuses any training row that exactly or nearly (word-trigram Jaccard >= 0.8)
  duplicates a case, exactly as the training code's leakage guard does.

Deterministic: every random choice comes from a ``random.Random`` seeded by a string, exact duplicate
texts (after moddistill's token normalisation) are dropped, and running it twice gives identical files.
Standard library plus the moddistill package only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

from moddistill.data.near_duplicates import duplicate_groups, near_duplicate_pairs, normalize_tokens

ROOT = Path(__file__).resolve().parents[2]

CATEGORIES = {  # code: (category path, price range in USD, item nouns for the fragments, brands, sizes)
    "el": ("Reviews > Electronics", (6, 180),
           ["pair of earbuds", "charger", "phone case", "power bank", "speaker", "cable", "smartwatch", "keyboard",
            "mouse", "webcam", "headset", "adapter"],
           ["Anker", "JBL", "Sony", "Logitech", "Samsung", "Belkin"], ["10 ft", "6.1 inch", "65W", "20W", "1 m"]),
    "fa": ("Reviews > Fashion", (8, 120),
           ["dress", "hoodie", "pair of jeans", "pair of sneakers", "jacket", "t-shirt", "skirt", "bag", "scarf", "cap"],
           ["Nike", "Levi's", "Uniqlo", "Zara", "Adidas", "H&M"], ["M", "L", "XL", "38 EU", "US 8", "32x30"]),
    "ho": ("Reviews > Home & Kitchen", (6, 150),
           ["pan", "lamp", "kettle", "blender", "towel set", "shelf", "pillow", "mug set", "organizer", "rug"],
           ["IKEA", "OXO", "Tefal", "Dyson", "Cuisinart"], ["queen", "60 x 120 cm", "1.7 L", "12 inch", "king"]),
    "be": ("Reviews > Beauty", (4, 70),
           ["serum", "moisturizer", "lipstick", "shampoo", "face mask", "perfume", "hair dryer", "brush set"],
           ["CeraVe", "Cetaphil", "Maybelline", "L'Oreal", "Neutrogena"], ["50 ml", "100 ml", "shade 120", "8 oz"]),
    "to": ("Reviews > Toys & Kids", (5, 90),
           ["puzzle", "plush toy", "building set", "doll", "RC car", "board game", "toy kitchen"],
           ["LEGO", "Fisher-Price", "Hasbro", "Melissa & Doug"], ["500 pieces", "age 3+", "12 inch", "1000 pieces"]),
    "sp": ("Reviews > Sports & Outdoors", (8, 200),
           ["yoga mat", "water bottle", "dumbbell set", "tent", "bike light", "backpack", "jump rope"],
           ["Hydro Flask", "Coleman", "Nike", "Under Armour", "Decathlon"], ["32 oz", "6 mm", "2-person", "20 lb"]),
    "pe": ("Reviews > Pets", (5, 90),
           ["dog toy", "cat bed", "leash", "litter box", "pet brush", "feeder"],
           ["Kong", "Purina", "Petmate", "Frisco"], ["size M", "6 ft", "20 lb", "small"]),
    "bo": ("Reviews > Books & Stationery", (3, 35),
           ["notebook", "pen set", "planner", "sketchbook", "book"],
           ["Moleskine", "Pilot", "Staedtler", "Leuchtturm"], ["A5", "0.5 mm", "A4", "pack of 12"]),
    "gr": ("Reviews > Grocery", (4, 45),
           ["coffee", "tea", "snack box", "honey", "olive oil", "protein bar pack"],
           ["Lavazza", "Twinings", "Nutella", "Kind"], ["1 lb", "500 g", "pack of 24", "16 oz"]),
    "au": ("Reviews > Automotive", (8, 90),
           ["phone mount", "seat cover", "car charger", "dash cam", "floor mat set"],
           ["Bosch", "Armor All", "Anker", "WeatherTech"], ["universal", "2-pack", "12V", "front row"]),
}
CATEGORY_WEIGHTS = {"el": 5, "fa": 5, "ho": 5, "be": 3, "to": 3, "sp": 3, "pe": 2, "bo": 2, "gr": 2, "au": 2}

SPAM_CLAUSES = ("spam.1", "spam.2", "spam.3", "spam.4")
ABUSE_CLAUSES = ("abuse.1", "abuse.2", "abuse.3", "abuse.4")

RATIONALE = {
    "spam.1": "Sends readers to an outside site, shop or contact handle (spam.1).",
    "spam.2": "Pitches an earn-money, investment, crypto or gambling scheme (spam.2).",
    "spam.3": "Advertises the poster's own shop, service or unrelated goods (spam.3).",
    "spam.4": "Repetitive or gibberish promotional text (spam.4).",
    "abuse.1": "Insults or name-calls the seller, staff or another buyer (abuse.1).",
    "abuse.2": "Harasses or demeans a person (abuse.2).",
    "abuse.3": "Threatens or wishes harm on a person (abuse.3).",
    "abuse.4": "Profanity aimed at a person (abuse.4).",
}


def _lines(block: str) -> list[str]:
    return [s.strip() for s in block.strip().splitlines() if s.strip() and not s.strip().startswith("#")]


# =====================================================================================================
# Training texts, hand-written. "cc|text" pins a category; untagged texts get a seeded category.
# =====================================================================================================
TRAIN_GENUINE = {
    "el": _lines("""
Earbuds paired instantly with my Pixel. Bass is decent for the price, mids a bit muddy.
charger works fine, gets a little warm but nothing crazy
Case fits the iPhone 13 perfectly and the buttons are clicky. Camera lip protects the lens.
Stopped charging after 3 weeks. Disappointed, requesting a refund.
The smartwatch step counter is way off, counted 2000 steps while I was driving lol
Speaker is LOUD. Took it to the beach, survived a splash, battery lasted all afternoon.
Does this keyboard work with a Mac? The listing only says Windows.
Mouse scroll wheel squeaks a bit but for 12 bucks I can't complain
USB-C cable is thick and feels sturdy, charges my laptop at full speed.
Arrived with a cracked screen protector, seller sent a replacement in 4 days. Good service.
Noise cancelling is meh. Fine on the bus, useless on a plane.
Is the power bank allowed in carry-on? what's the mAh exactly
Bought 2, one works perfect the other has a dead left channel 😕
Ring light is bright enough for my zoom calls and the tripod is steadier than I expected.
Webcam picture is grainy in low light. Ok in daylight.
Works as described. Nothing more to say.
the hdmi adapter made my monitor flicker every few min, returned
Love the transparent design of these headphones, everyone at work asks about them
Battery life is about 5 hrs not the 10 advertised
Great little dashcam, night footage is readable, plates visible at a stop.
gave it 3 stars because the app is in broken english and keeps logging me out
Plugged it in and smelled burning plastic. Unplugged immediately. Would not trust this brand.
Tablet stand is solid aluminium, doesnt wobble when I tap on the screen.
Why does the charger come with a EU plug?? I'm in Ohio
Perfect gift for my dad, he uses the radio every morning
Wireless mouse connects fine but the receiver is tiny, already lost it once haha
Keys feel mushy compared to my old mechanical but it's quiet which my roommate appreciates
Had to update the firmware before it would connect. After that zero problems.
Solid product. 4 stars only because shipping took 2 weeks.
the led strip adhesive gave up after a week, had to use my own tape
"""),
    "fa": _lines("""
Dress is gorgeous, fabric is thicker than I expected. Runs small so size up!
ordered M got XL 🙄
Hoodie is super soft and the color is exactly like the photos.
Shoes squeak on tile floors. Comfortable though.
The jeans faded after the first wash, kinda sad about it
Does the black one come in a size 10? Only see 8 and 9.
Bag strap broke on day 2. The stitching was barely there.
I'm 5'4 and 130lbs, the S fit me perfect, little loose at the waist.
Socks are cute but thin, my toes poke through already
Fast shipping and the scarf came wrapped in tissue paper with a thank you note 🥰
Material feels cheap and scratchy. Not worth $35.
bought for my wedding, got so many compliments!!
The zipper is stiff and catches every time. Otherwise nice jacket.
Color in person is more mustard than the orange in the pics.
Second pair I've bought, still my favorite running shoes
sleeves way too long for me but I'm short so maybe that's on me
The sunglasses are lighter than they look and don't slide down my nose.
Arrived smelling like chemicals, had to air it out for two days.
Belt buckle is heavy and well made. Leather seems real.
Is this 100% cotton? The tag says poly blend
Perfect for the gym, doesn't go see-through when I squat.
Hat fits my big head which almost never happens lol
pants have pockets!!! real pockets!!! 10/10
Returned it. The cut is super boxy and unflattering on me.
Sizing chart was accurate, measured myself and ordered a L, fits great.
Kids raincoat kept my son dry during a downpour, hood stays on
The print started peeling after three washes on cold.
love the vintage look of the denim jacket, pairs with everything
Heels are pretty but I couldn't last an hour in them
Not the same shade as my last order from this listing, slightly darker
"""),
    "ho": _lines("""
Nonstick pan is actually nonstick, eggs slide right off.
Lamp arrived with a broken shade, packaging was just a thin bag.
Sheets are soft but they pill after a few washes.
This kettle boils water in like 2 min, love it
Storage bins are smaller than I pictured, check the dimensions before buying.
The knife set is sharp out of the box. The block is a bit wobbly.
Curtains block almost all the light, finally sleeping past 6am
Vacuum is light and easy but the battery dies in 15 min on max.
Can you put the lid in the dishwasher?
Smells like new plastic for a few days, then fine.
Shower head has great pressure, easy install, no tools needed.
Towels shed fuzz all over everything the first three washes.
Mugs are beautiful, one arrived chipped though. Seller refunded that one without fuss.
rice cooker makes perfect rice every time. the keep warm function dries it out a little after a few hours
Bought this to organize the pantry and it actually worked, my wife is impressed
The clock ticks loudly, can't have it in the bedroom.
Pillows went flat within a month.
The rug colors are richer in person. Non slip backing works on hardwood.
air fryer basket coating started flaking after 2 months, not safe to use now
Exactly what I needed for my tiny apartment kitchen.
Drawer slides came without screws??
Blender is loud as a jet engine but crushes ice no problem
The candle smells amazing for the first hour then nothing.
Assembly instructions were pictures only and one step was missing. Took me 2 hours.
Good value. Would buy again if they had a bigger size.
Plant pots have drainage holes and saucers, nice touch
Mattress topper took 3 days to fully expand, now it's comfy
The soap dispenser leaks from the pump. Returned.
grandma loves her new electric blanket, keeps it on all night
Solid cutting board, no warping after a month of daily use
"""),
    "be": _lines("""
Serum absorbs fast and doesn't feel sticky. Skin looks brighter after 2 weeks.
Lipstick color is gorgeous but it dries my lips out
Sunscreen leaves no white cast on me, finally!
Broke me out. Probably my skin, just a heads up for sensitive folks.
Shampoo smells like coconut and my hair feels softer
Is this safe to use while pregnant? Can't find the full ingredient list.
The nail kit is cute but the file is useless
Package arrived leaking, half the bottle was in the bag.
Holy grail moisturizer. Already on my third jar.
Mascara clumps a lot. Disappointed.
foundation shade 120 is perfect for my fair skin
The razor gives a close shave without irritation
Expiry date is only 2 months away, not happy about that
Hair dryer is quiet and dries my thick hair in 10 min
Perfume smells nothing like the description. Very sweet, gives me a headache.
Face mask sheets are soaked in serum, love them before an event
Makeup brushes shed a few bristles on first wash, fine after that
the eyeliner pen is so precise, wing game strong now 💅
Not sure if authentic, the box looks different from the one I bought at the mall.
Body lotion is greasy, takes forever to sink in.
Lip balm tin is tiny, more like a sample size
Works great for my dry scalp
The curling iron heats up fast but the clip is weak
Love the refill option, less packaging waste.
My daughter uses the kids toothpaste without complaining, that's a win
"""),
    "to": _lines("""
My 6 year old built the whole castle in one afternoon. Pieces fit well.
Plush is softer than it looks, my baby sleeps with it every night
Puzzle was missing 2 pieces. Very annoying after 1000 pieces.
Batteries not included and it takes 4 AA, just so you know
Baby bottles don't leak and are easy to clean
RC car broke within a day, the steering gear snapped.
Is this suitable for a 2 year old? Any small parts?
Kids love the slime kit, my carpet does not lol
Board game is fun for the whole family, rules take a while to learn
Crayons are bright and don't break easily
Paint peeled off the wooden blocks quickly, worried about my toddler chewing them
The doll's hair tangles like crazy
Great stocking stuffer, under $10 and keeps them busy
Teether is soft silicone, no weird smell
Stroller fan clips on firmly and is quiet
Magnet tiles are compatible with the ones we already had
Kite flew on the first try, even in light wind
Box was damaged but the toy was fine
Bath toys got moldy inside after a month, throwing them out
The learning tablet voice is clear and the songs are not too annoying for adults
play tent is bigger than expected, takes up half the room
Nice quality for the price, will buy the dinosaur one next
"""),
    "sp": _lines("""
Yoga mat is grippy and thick enough for my knees
Water bottle keeps ice for a full day in the car
Tent leaked at the seams in the first rain
Bike light is bright, USB charging is handy
Dumbbells smell like rubber but they're solid
Resistance bands snapped on the second week, be careful
Does the jump rope length adjust? I'm 6'3
Running belt holds my phone without bouncing
Camping chair is comfy and packs small
Goggles fog up after 10 minutes no matter what
Great quality basketball, good grip indoors and out
Fishing reel is smooth, line came tangled though
Hiking socks kept my feet dry for 12 miles
Foam roller is too soft for me, barely does anything
The pull up bar fits my door frame without screws, holds me fine at 190 lbs
Helmet fits well and the visor is removable
Tennis balls lose bounce fast
Kettlebell handle is rough, tears up my hands without chalk
sleeping bag is warm down to about 40F, not the 20F they claim
ordered blue got pink, still using it tho
Gym gloves fit snug and the wrist strap is nice
Compass needle is slow to settle, fine for casual hikes
"""),
    "pe": _lines("""
My cat ignored the tree for a week, now she won't get off it
Leash clip feels flimsy for a 60 lb dog
Litter clumps well and the smell is manageable
Dog chewed through the 'indestructible' toy in 20 minutes 😂
Fish tank filter is quiet, water clear after 3 days
Is the harness adjustable for a small beagle?
Bird seed had bugs in it. Threw it out.
Pet bed is washable and holds shape
Automatic feeder app works, my dog gets fed on time even when I'm late
Grooming brush takes out tons of undercoat, my husky approves
Treats gave my dog an upset stomach
The cat water fountain is noisy at night
Collar tag engraving is clear and the font is cute
Hamster wheel squeaks but a little oil fixed it
Poop bags tear easily. Double bagging now.
The scratcher is cardboard and makes a mess but the cats love it
Dog raincoat fits my frenchie perfect
Crate pan cracked during shipping
"""),
    "bo": _lines("""
Notebook paper is thick, fountain pen doesn't bleed through
The book arrived with a bent cover but pages are fine
Gel pens skip a lot
Planner layout is really well thought out, weekly + monthly views
Is this the 2nd edition or the 3rd?
Stickers are vibrant and peel off the sheet easily
Highlighters dried out super fast
Great read, couldn't put it down. Printing is good quality.
Watercolor set is nice for beginners, colors blend well
The binding came apart after a week
Used book in better condition than described, thank you!
Calculator buttons are stiff
Pages are upside down halfway through the book. printing error, asked for exchange
Sketchbook fits in my bag perfectly
Pencils sharpen evenly and don't break
"""),
    "gr": _lines("""
Coffee beans are fresh, roast date was last week
Snacks arrived crushed into crumbs
The tea has a nice floral smell, very relaxing
Best before date was already passed. Asking for a refund.
Spicy noodles are actually spicy, not fake spicy
Honey crystallized but that's normal for raw honey
Is this gluten free? The label is in Korean.
Protein powder mixes smooth, chocolate flavor is nice
Olive oil tastes peppery and fresh
Chocolate melted in transit, it's summer, should have shipped with an ice pack
Rice is good quality, no stones
The jerky is too salty for me
Cheaper than the supermarket and delivered to my door
Granola has way more raisins than nuts, disappointing
Kids love these fruit snacks, reordering
"""),
    "au": _lines("""
Phone mount holds tight even on bumpy roads
Seat covers don't fit my Civic well, lots of bunching
Tire inflator is slow but it got the job done
Car vacuum has weak suction
Does this fit a 2015 Corolla?
Wiper blades are quiet and streak free
Jump starter saved me at the grocery store parking lot
Floor mats have a strong smell, left them in the sun to air out
Dash cam mount broke after a hot week
LED bulbs are way brighter than stock
Steering wheel cover is hard to put on but looks great
The trunk organizer collapses when you brake
Air freshener lasts about 2 weeks
"""),
}

# Allowed look-alikes of spam: prices, brands, in-app chat, the shop's own pages, sizes, model numbers,
# recommending the item, "earn"/"crypto"/"follow" in an innocent sense.
TRAIN_SPAM_LOOKALIKE = _lines("""
el|Paid $39.99 on sale, regular price is $59. Worth it at the sale price.
fa|Size 38 EU fits like a US 7.5, I used the size chart on the listing and it was spot on.
el|Check the seller's store page in the app, they also have the matching screen protector.
ho|Had an issue with the lid, I messaged the seller in chat and they sent a new one free.
el|Better than my Anker and half the price. Would recommend to anyone on a budget.
fa|If you want the navy one it's under the seller's other listings, same quality.
el|The QR code in the manual takes you to the brand's setup video, super helpful.
be|Compared it to the $60 Clinique one and honestly can't tell the difference.
ho|Contact seller in chat before ordering if you need the 220V version, they'll swap it.
to|Follow the instructions on page 12, not the video, the video is for the older model.
sp|Telling all my gym friends about this bottle lol
el|Model number is A2337, fits exactly. Check yours before buying.
pe|My vet recommended this brand, glad to find it cheaper here.
gr|There was a 10% off coupon for this shop in the box, used it on my second bag.
fa|Ordered 3 sizes (S, M, L) to try and returned two, returns were easy through the app.
el|Tracking number updated every day in the app, arrived in 5 days.
ho|The link in the listing to the assembly guide was broken, but the seller sent the PDF in chat.
bo|5 stars!!! buy it buy it buy it, best planner ever
el|Earning my money's worth out of this one, used it every day for a year.
sp|Worth every penny of the $120, way better than the Coleman I had.
be|I make money doing nails from home and this kit is what I use for clients, holds up great.
el|The seller's WhatsApp number is printed on the box but I just used the in-app chat, they answered in an hour.
fa|Sized up to XXL for my husband (6'2, 220 lbs), fits well.
ho|Bought 4 more for my mom's house, the price drop this week made it a steal.
to|Got the $15 one and the $25 one, the cheaper one is honestly better.
el|Does the 65W version exist? Reply to me in the chat here please.
gr|Bitcoin-shaped chocolate coins for my son's birthday, he loved them
el|Bought this fan for my little crypto mining hobby rig, it's loud but keeps it cool.
fa|Shop has a size guide video on its store page, watch it, it helps.
pe|Subscribed to monthly delivery through the app's subscribe & save, never run out now.
ho|Found it cheaper at Target after I ordered, but fine, it's good quality.
el|Here's a tip: update it through the official app, not some random website.
be|Smells like the $90 Le Labo one, I'm not kidding
sp|Item #4471 in their store is the matching lid, ordered both.
el|Free gift included (a cable) was a nice surprise
bo|Author signed copy!! the seller even added a bookmark
to|WIN WIN: kids are happy and it was on sale for $12.99
fa|100% cotton as stated, tag says made in Portugal
ho|Call the seller through the app if the box arrives dented, they handled my claim in a day.
el|I run a small repair shop and we keep these for customers now, very reliable.
gr|The photos on the listing are accurate, the cake toppers look exactly like that.
sp|Joined a running club and half of them now have this watch lol
el|Promo price was $29 for 11.11, glad I grabbed two.
fa|HUGE discount during the flash sale, 70% off, couldn't believe it
ho|size 60x120 cm, fits my bathroom window exactly
el|Version 2.1 firmware fixed the bluetooth drop, get it from the settings menu.
be|Seller replied to my question in the chat within minutes, very professional.
to|rated 5 stars because customer service replaced the missing piece fast
pe|Saving $$$ vs the pet store, buying in bulk here now
el|For anyone asking: the charger is 20W, cable is 1m, and the plug is US type.
fa|Ordered from this shop 5 times now, never had a bad item
gr|Follow the brewing guide on the bag: 90C water, 3 min. Perfect.
ho|Visit the seller's shop page for the matching pillowcases, they're sold separately.
el|The dollar store version broke in a day, this one's lasted months.
sp|DM'd the seller through the app about sizing and they were super helpful
be|Got a free sample of their toner with my order, nice touch
bo|Discount code was applied automatically at checkout, paid $8 instead of $12
el|Tried 3 brands of earbuds before this, Soundcore, JBL and a no-name. These are the best.
to|Gave this at a baby shower and now 3 friends asked where to get it, sent them the listing.
fa|Got paid this week and treated myself, no regrets
ho|Best investment for my kitchen this year 😂
el|The code on the warranty card registered fine on the brand's official site.
pe|Bought during the store's live stream sale, got an extra toy
au|Fits 2015-2019 Corolla, confirmed with the seller in chat before buying.
sp|Price went from $45 to $32 a week after I bought, a bit annoyed
gr|Coffee subscription from this shop is worth it, fresh beans every 2 weeks
el|Download the companion app from the App Store, the QR code in the manual is outdated.
fa|The brand's tag says 'follow us' on the back lol, but the shirt's good
be|Ordered 12 for my salon, same batch, all consistent.
to|The box says 'win prizes inside!' and my kid did get a sticker sheet lol
""")

# Allowed look-alikes of abuse: harsh but civil complaints, profanity about things, slang praise.
TRAIN_ABUSE_LOOKALIKE = _lines("""
ho|Worst purchase ever. Returning it.
el|Absolute garbage. Stopped working in 2 days. Save your money.
fa|This killer deal is gone now but if it comes back, grab it.
fa|Sick colours, the neon green is insane in sunlight
el|This speaker slaps, bass goes hard
ho|I'd kill for this in a bigger size honestly
to|My kids are obsessed, they'd fight each other over it if I bought only one
el|Damn, this thing is fast. Boots in 5 seconds.
sp|Shoes are a beast on trails. Grip is crazy good.
ho|Terrible quality, the handle snapped on the first use. Very disappointed in this seller.
el|The seller's description is misleading. It's not 4K, it's 1080p upscaled. One star.
fa|Honestly the ugliest shade of pink I've ever seen, nothing like the photo. Returning.
gr|Tastes like cardboard. Hard pass.
be|This burned my face. Stopped using it immediately. Be careful.
ho|Hell yes, finally a mop that actually works
el|The customer service was useless, three messages and no reply. Very frustrating.
to|What a dumb design, the battery cover needs a tiny screwdriver every time
sp|This tent is a joke in the rain. Stay dry? Ha.
pe|My dog destroyed it in minutes, it's a murder scene of stuffing in my living room lol
fa|Fits like a dream, I look like a boss in this blazer
el|I'm so mad, waited a month and got the wrong color. Requesting refund.
au|Pathetic suction. Don't bother.
ho|Crap. Total crap. Broke in a week.
el|This charger is a piece of junk, melted the cable
fa|These jeans are bad ass, best fit I've had
be|This mascara is the bomb 💣
gr|Killer hot sauce, literally made me cry
bo|The plot twist destroyed me, in a good way
sp|Murdered my leg day with these bands 💀
ho|Shipping took forever and the box looked like someone kicked it across the country. Item ok.
el|Seller, please fix your listing, it says 128GB but it's 64GB. Fix it or I'm reporting it.
fa|Not the seller's fault but the courier threw my parcel over the fence
el|Stupidly good value. Bought a second.
ho|The instructions are idiot-proof, even I managed
pe|Crazy how fast this shipped, insane service
sp|If this bottle breaks again I'm going to lose my mind lol
el|I'm going to report this listing to the platform, the specs are false.
fa|Very rude that the seller ignored me for a week, expected better. 2 stars.
ho|Disgusting smell from the pillow, like wet dog. Had to throw it out.
be|my sister swore it's a dupe and she's dead wrong, it's the real deal 😂
to|Grandkids went nuts for it. Absolute chaos in the best way.
el|fire product 🔥🔥🔥 no cap
au|Bloody brilliant, fits my ute perfectly
gr|Freaking delicious. Ordering 5 more.
ho|To the buyer who asked about the weight: it's about 3 kg, easy to carry.
el|@previous reviewer you probably got a bad unit, mine works fine
""")

TRAIN_SPAM = {
    "spam.1": _lines("""
Great product! Visit www.best-deals-4u.shop for 80% off all brands 🔥
add me on telegram @easyprofit_sam for wholesale prices
cheaper on my site → shopnowxyz.com/promo use code FREE50
WhatsApp +1 415 555 0193 for same item at half price, no fees
nice. check my IG @luxe.bags.outlet for designer bags 70% off
Buy directly from me and skip the platform fee, text 646-555-0148
Get this cheaper at bit.ly/3xDeaLz 💯💯
I sell the original for less, snap: kicksplug.nyc
For bulk orders contact me at wholesale.direct88 @ gmail . com
hello friend, free iphone giveaway click the link in my profile
DM me on tiktok @gadgetguru_deals for secret discount codes
Visit  w w w . cheapbrands . store  best price guaranteed
love it!! also check out my youtube channel TechWithTony for unboxings, subscribe 🙏
want the same for $5? join t.me/dropship_secrets
LINE ID: cheapphone88 , all models in stock
Order from our official site instead, faster shipping: promo-outlet.net
contact me on wechat for factory price: factory_li_2021
Rolex AP Patek best copies → luxtime-replica .com
Free followers and likes!! go to getfollowz.io
stop paying full price, discord invite: discord.gg/freebiez
Kik me: dealhunter_jess
Text DEALS to 55123 for exclusive coupons
I have this in stock cheaper, message me on signal +1 202 555 0164
Click here >>> tinyurl.com/freegiftcard2024 <<< claim your $100 gift card
follow this link to win a free PS5: ps5-giveaway-winner.club
my etsy has handmade versions of this, search HandmadeByKaylee
Skip the wait, we ship same day from our website. google 'fastship outlet'
Good quality. Also selling iPhone 15 new sealed, whatsapp me 0 8 1 2 3 4 5 6 7 8
Email me for catalogue: cheap.sneakers.plug (at) outlook (dot) com
got mine for $3 on snapdeals dot xyz lol, don't pay this price
exclusive content for my fans, link in bio 😘
Watch full movies free at movie4free.site
Telegram channel for daily loot deals: @lootdealsUS
nice item. visit my blog for honest reviews of 500 products: bestreviewhub.blog
PayPal me directly and I'll ship you one for $10 less, insta: @jay.resells
"""),
    "spam.2": _lines("""
I earn $500 a day working from home with just my phone!! ask me how 💸💸
Make money online, no experience needed, DM for details
Bitcoin doubled my savings in 2 weeks, message me to join the trading group
Invest $200 get $2000 in 7 days guaranteed!!! limited spots
My aunt made $18,000 last month from home. Go to work-from-home-now.biz
Earn money by liking videos, 100% legit, ask me for the app
ETH giveaway: send 0.1 and get 1 back, official promo
Join my team and be your own boss 👑 earn passive income selling our wellness products
need 5 people for an easy online job, $300/day, whatsapp me
Forex signals 95% win rate, telegram @fxkingpro
quit your 9-5 like I did!! comment INFO and I'll send you the guide
Crypto mining app pays daily, use my referral code XR99 for bonus
Hi everyone, I'm hiring part time reviewers, $50 per review, contact me
Looking for a side hustle? I made $3k this week with this system
Turn $100 into $1000 with my trading bot, results guaranteed
new token launching tomorrow, 100x guaranteed, buy before it's on exchanges 🚀🚀🚀
Get paid to test products at home, apply now, free samples + cash
Nice shoes. BTW anyone want to earn 10% daily returns? DM me
Students!! earn $40/hr typing from your dorm, no degree needed
My sponsor changed my life. Financial freedom in 90 days. Ask me how.
Loan approved in 5 minutes, no credit check, text me the word LOAN
Cash app flip!! send $50 get $500 back in an hour
USDT staking 3% per day, totally safe, message for the link
I'm a certified account manager, let me trade for you and you keep 80% of profit
Free $50 just for signing up, use my invite code JANE50
casino bonus 300% first deposit, play now at luckyspin777
Make $$$ reselling this item! I teach you for $49, link in my bio
Anyone interested in a money-making opportunity? Serious people only. Pm me
Earn from home!!! Earn from home!!! Earn from home!!!
Found an app that pays you to walk 💰 code: WALK4CASH
NFT mint is live, floor going to 10 ETH, grab one now
Mom of 3 here, made $6,782 last month from my phone. Check my page
Get rich with dropshipping, my course is 90% off today only
SURVEYS PAY $25 EACH, sign up thru my link
Recovering lost crypto? Contact hacker_recovery_pro, works 100%
"""),
    "spam.3": _lines("""
Follow my shop for more cute phone cases!! new drops every Friday 💕
Good product. Please visit my store too, we sell the same for less, follow us
Check out my shop CrystalVibesCo for healing crystals ✨ follow for follow
F4F? follow my store and I'll follow back 🙏
We are a licensed plumbing company, call us for any leaks, 24/7 service
Looking for a house? Our real estate agency has great listings in Austin
Best pizza in town at Tony's, delivery in 30 min, order now
Cleaning services for offices and homes, first visit 50% off
Please support my small business, we sell handmade candles, search my shop name SoyGlowCo
Anyone need a logo? I design logos for $5, portfolio in my profile
Visit our store for the best quality phone accessories, thousands of happy customers!
new follower here, please follow my shop back and like my listings 🥺
Selling my used car, 2012 Honda Accord, great condition, ask me
SALE SALE SALE at my store, everything 50% off this weekend only
Attention: We buy gold and silver for the highest price, visit us downtown
Tutoring in math and physics, online, affordable rates, DM
Like and share my listing please!! I'm a new seller 🙏🙏
Check my shop for the same hoodie in 12 colors, cheaper than this seller
Weight loss tea that really works, 10 lbs in 10 days, see my store
Grand opening of our nail salon on Main St, walk-ins welcome!
Order our keto meal plans today, shipped nationwide
Hi, I'm a wedding photographer, booking for next summer now
Great review section, anyway, my band is playing Friday at The Roxy, come through
Vote for my daughter in the cutest baby contest please, link in profile
I sell better earbuds in my store, go look, you won't regret it
Insurance quotes in 2 minutes, save hundreds on car insurance
Buying used iPhones, any condition, best cash price, contact me
Moving sale: sofa, bed and desk, all must go
Follow for daily outfit inspo and discount drops 💃 shop link in bio
Rent a party bus for your next birthday, call now for rates
"""),
    "spam.4": _lines("""
cheap cheap cheap best price best price best price buy now buy now
iphone samsung xiaomi huawei oppo vivo case charger cable earbuds cheap free shipping
asdkjh asdkjh promo promo 999 999 clickclick
BEST DEAL BEST DEAL BEST DEAL BEST DEAL BEST DEAL
nike adidas puma gucci prada lv cheap wholesale nike adidas puma
🔥🔥🔥 SALE 🔥🔥🔥 SALE 🔥🔥🔥 SALE 🔥🔥🔥
discount discount coupon coupon free free free gift gift gift
zzz deal zzz deal zzz deal visit visit visit
buy followers buy likes buy views buy subscribers cheap fast
good good good good good good good good free gift link
xx cheap bags xx cheap shoes xx cheap watches xx
WIN WIN WIN WIN claim claim claim prize prize
lorem promo ipsum deal dolor discount sit amet sale
$$$ $$$ $$$ easy cash $$$ $$$ $$$
k8k8k8 slot gacor maxwin k8k8k8 register now
best earbuds cheap earbuds wireless earbuds earbuds sale earbuds deal earbuds 2024
qwerty123 promo code promo code promo code
★彡 FREE GIFT ★彡 FREE GIFT ★彡 FREE GIFT ★彡
shoes shoes shoes bags bags bags watches watches cheap cheap
CLICK CLICK CLICK → → → DEAL
ooooo offer ooooo offer ooooo offer
replica replica replica cheap cheap original quality
cheap pills no prescription cheap pills fast ship
deals4u deals4u deals4u deals4u deals4u
hot sale hot sale limited time limited time act now act now
"""),
}

TRAIN_ABUSE = {
    "abuse.1": _lines("""
Seller is a complete idiot, can't even pack a box.
whoever packed this is a clown 🤡
you people are morons, I asked for blue TWICE
To the guy who gave 5 stars: are you blind or just stupid?
Dumbest seller on this app. Learn to read an order.
Absolute muppet of a seller, sent me a left shoe twice
The seller is a lazy useless loser
hey genius, 'waterproof' means it doesn't leak. Clown shop.
you are pathetic, a child could run a better shop
@buyer above, nobody asked for your dumb opinion, moron
What a brainless jerk, answered my question with 'read the description'
Seller = clueless fool. Never again.
the owner of this store is a lying weasel
Are you people idiots? The size chart is wrong on every item.
customer service rep 'Mike' is the rudest, dumbest person I've ever dealt with
imagine being this incompetent. embarrassing excuse for a seller
You sellers are all greedy pigs
Stop replying to reviews with copy paste, you absolute bot-brained idiot
the reviewer who said it fits true to size is an airhead
Hey dummy, I paid for express shipping, not a 3 week vacation for my package
Seller is a nitwit who can't count to 3, sent 2 items
total jackass seller, argued with me for an hour about a refund
To the clown who packed this: bubble wrap exists.
worthless human, your shop is a dump
incompetent fools running this store
lol the people defending this seller must be his idiot friends
You're a joke of a businessman, Kevin.
Seller is dumb as a rock.
the delivery guy is a moron who left it in the rain, and the seller is no better
Shut up and ship my order, you numpty
Your 'quality control' team must be a bunch of chimps
Keep your fake sympathy, you condescending creep
brain dead seller, brain dead product
Hey buyer who keeps asking the same question, are you illiterate?
greedy little rat, charging $15 shipping for a sticker
"""),
    "abuse.2": _lines("""
Nobody wants you on this app, close your shop and disappear
I'm going to post on every single one of your listings until you quit, loser
Saw your profile pic, no wonder your products are ugly too
go cry to your mommy, you can't even run a shop
You should be ashamed to exist, seller
I'll keep leaving reviews on all your stuff telling people how pathetic you are
@seller everyone in this neighborhood knows you're a failure
Get a real job, you're too stupid for business
Buyers like you are why nobody wants to sell here. Go away and never come back
you sound old and senile, retire already
Hey Karen in the reviews, touch grass and stop whining at the seller
Your voice in the product video is so annoying, nobody wants to hear you, shut up forever
I made 5 accounts just to 1-star your shop, enjoy
everyone laugh at this seller, look how dumb his replies are 😂😂
you're fat and lazy, that's why shipping takes forever
Quit your business and do us all a favor
Nobody likes you, not your customers, not your family
Seller is a waste of oxygen
Look at this loser crying in the replies again lol
Ugly shop, ugly product, ugly owner
this buyer leaves the same whiny review everywhere, get a life you sad little man
i'm screenshotting your replies and sending them to every group chat so everyone laughs at you
What a sad life you must have to reply to every review like that, pathetic
You belong in the trash with your products
"""),
    "abuse.3": _lines("""
If my money isn't back by Friday I'm coming to your shop and you'll regret it
I know where your warehouse is. Watch your back.
Send a refund or I'll find you, I have your address from the return label
I hope your shop burns to the ground
Keep ignoring me and see what happens to your car
Next time I see you at the market I'm going to smash your stall
You'd better pray we never meet in person
I'll make sure you can't walk after this, crook
I have your home address now. Think carefully about your next reply.
hope you get hit by a bus, seller
Refund me or I'm posting your phone number and address everywhere
Going to break your delivery guy's legs if he throws my parcel again
One more excuse and I'm coming down there to sort you out myself
I wish something terrible happens to you and your family
You'll get what's coming to you, I promise
Ship my order or I'll wreck your store front, I'm serious
Answer me or I'll show up at your door
if this breaks again i'm gonna punch whoever sold it to me
Hope your whole inventory gets stolen and you go broke
I'll be waiting outside the pickup point for you
"""),
    "abuse.4": _lines("""
F*** you and your fake reviews
screw you seller, I want my money back
Go to hell, you and your broken products
shove your 'apology' where the sun doesn't shine
you're a piece of sh*t seller
Damn you and your lies
STFU and refund me
seller is a lying a**hole
eat dirt you jerk
to the buyer above: piss off, nobody asked
Bugger off with your excuses, mate
you absolute b*stard, three weeks and nothing
wtf is wrong with you people, f off
Kiss my butt, I'm not paying return shipping
you're full of crap and you know it, seller
damn liar, that's what you are
Hey seller, up yours
Go f yourself, worst service ever
sod off with your automated replies
to hell with you and your 'policy', you greedy prick
Suck it, seller, I already reported you
shut your mouth and read my message, dumb*ss
screw you and the horse you rode in on
f*** off with your excuses
you lying sack of sh*t
"""),
}

# Violating both policies: "spam clause,abuse clause|text".
TRAIN_BOTH = _lines("""
spam.1,abuse.1|This seller is an idiot, buy from my shop instead: t.me/realdeals_jay
spam.1,abuse.1|Stupid overpriced junk from a clueless seller. Get the real thing at 50% off → bestprice-outlet.com
spam.2,abuse.1|Only morons pay this price lol, I earn $400/day from home, DM me
spam.3,abuse.1|seller is a fraud and a clown 🤡 follow my store for honest prices
spam.1,abuse.4|screw this shop, whatsapp me +1 305 555 0172 for the same thing cheaper
spam.2,abuse.1|Idiots buying this when my crypto group doubles your money weekly, join @cryptowolves
spam.1,abuse.4|Go to hell seller. Everyone else: check my IG @fashion.flips for better stuff
spam.4,abuse.1|dumb seller dumb seller dumb seller cheap deals cheap deals cheap deals
spam.3,abuse.1|You're too stupid to run a shop. Visit my store KingGadgets for real quality
spam.1,abuse.3|I know where you live, seller. Meanwhile everyone join t.me/freeloot for free stuff
spam.1,abuse.1|losers paying full price 😂 bit.ly/halfpriceX
spam.2,abuse.4|F*** this seller. Earn real money with me, $300 a day, telegram @hustlejack
spam.3,abuse.1|pathetic shop, follow me for 4x better deals, f4f
spam.1,abuse.1|Seller is a fraud and an idiot. Buy direct from the factory, wechat: gz_factory_77
spam.3,abuse.1|Clown seller. My shop has it for $5, go check, you won't find a bigger idiot than this guy
""")

# =====================================================================================================
# Fragments the generator recombines (training only). {item} / {Item}: an item noun of the category;
# {price}, {brand}, {size}, {model}: filled per row.
# =====================================================================================================
FRAG_OPENERS = _lines("""
Ordered this for my sister.
Second time buying from this shop.
ok so
Honest review:
Update after 2 weeks:
Bought on sale.
Gift for my husband.
Long time lurker, first review.
Quick review -
So I was skeptical at first.
Arrived today.
I've had it about a month now.
Got it yesterday!
My 2 cents:
For context, I use it daily.
Not my first order here.
Needed this for a trip.
Replacing my old one that died.
Saw this on the homepage and took a chance.
Was a birthday present for my kid.
Hmm.
Okay,
Wow.
Alright so
Mixed feelings.
Bought 3 of these.
Been using it for a week.
Package came early.
Third order from this seller.
Background: I'm picky about this stuff.
""")
FRAG_QUALITY = {
    "pos": _lines("""
The {item} feels solid and well made.
{Item} works exactly as described.
Quality is way better than I expected for the price.
The {item} looks even nicer in person.
no complaints about the {item} so far
Does the job, nothing fancy.
Build quality is surprisingly good.
the finish on the {item} is really clean
Sturdy, nothing rattles or wobbles.
Feels premium, honestly.
The {item} is exactly like the pictures.
Used the {item} every day this week and it's holding up.
My {item} still looks brand new after a month.
Better than the one I got at the mall.
It's lighter than I expected, which is a plus.
Colour is true to the photos.
Love it, use it daily.
zero issues so far 🤞
the {item} is well designed, you can tell someone thought about it
Works perfectly out of the box.
Really happy with how the {item} turned out.
Honestly one of my better buys this year.
Solid {item}, does what it says.
Nice weight to it, doesn't feel cheap.
"""),
    "neg": _lines("""
The {item} stopped working after a week.
Feels cheap and flimsy.
One part was broken right out of the box.
the {item} is smaller than the photos make it look
Looks nothing like the listing photos.
Started falling apart after a few uses.
The {item} has a weird chemical smell.
Edges are rough and badly finished.
quality control is clearly nonexistent
Mine came with scratches all over it.
The {item} works but only sometimes.
Not durable at all.
It's ok for a week and then it's not.
colour faded way too fast
Poorly made, you get what you pay for I guess.
The {item} is a lot flimsier than I hoped.
Half the features don't work.
Returned the {item}, it just wasn't good.
Not as described.
Cheap materials, cheap feel.
The {item} broke the second time I used it.
Disappointing quality.
It does the job but barely.
Mine arrived with a missing piece.
"""),
}
FRAG_SHIPPING = {
    "pos": _lines("""
Shipping was fast, 4 days.
Arrived a day early!
Delivery was quicker than expected.
Got here in under a week.
Shipped the same day I ordered.
fast delivery 🚚
Tracking was accurate and it came on time.
Arrived right on the estimated date.
came in 3 days, impressive
Quick shipping even with the holiday rush.
Delivered to my door, no hassle.
Shipping was faster than the big stores.
Arrived way before the estimate.
On time delivery.
"""),
    "neg": _lines("""
Took almost 3 weeks to arrive.
Tracking didn't update for a week.
Courier left it at the wrong address.
Delivery was delayed twice.
shipping took forever
It sat at the sorting center for 10 days.
Arrived a week after the estimate.
Had to chase the courier to get it.
package was marked delivered but came 2 days later
Slow shipping, no updates.
Took a month, I almost forgot I ordered it.
The delivery window kept changing.
Shipping cost more than I expected.
Arrived late for the birthday I bought it for.
"""),
}
FRAG_PACKAGING = {
    "pos": _lines("""
Packed well with bubble wrap.
Nice packaging, came in a gift box.
Everything was wrapped individually.
Packaging was neat and eco friendly, no plastic.
Well protected in the box.
came double boxed, zero damage
Packed carefully, even had a thank you card.
Great packaging.
Sturdy box, nothing moved around.
Arrived sealed and clean.
"""),
    "neg": _lines("""
Box was crushed but the item survived.
Came in a thin plastic bag, no protection.
Packaging was ripped open.
No box at all, just tape around it.
The box was wet when it arrived.
Poorly packed, stuff rattling around inside.
packaging smelled like smoke
Seal was already broken.
Box was way too big, item flopping around.
Outer box dented.
"""),
}
FRAG_SERVICE = {
    "pos": _lines("""
Seller answered my questions quickly.
Customer service was friendly and helpful.
Seller sent a replacement without any fuss.
Refund was processed within two days.
The seller followed up to check it arrived ok.
Very responsive seller.
Seller was patient with all my questions.
Great communication from the shop.
They fixed my order mix-up right away.
Seller added a little freebie, sweet.
"""),
    "neg": _lines("""
The seller never replied to my messages.
Return process was a nightmare.
Still waiting on my refund after 2 weeks.
Seller kept giving me the runaround.
Customer service copy-pasted the same answer three times.
No response from the shop for days.
They refused a return even though it was faulty.
Seller blamed the courier for everything.
Asked for an exchange, got ignored.
Refund was only partial, not sure why.
"""),
}
FRAG_VALUE = {
    "pos": _lines("""
Good value for the money.
For the price you really can't go wrong.
Cheaper than in stores and same quality.
Great deal.
Worth every cent.
Well priced.
Bang for your buck.
Honestly a steal.
Affordable and works.
Price is fair.
"""),
    "neg": _lines("""
A bit overpriced imo.
Not worth the money.
Could get better for the same price.
Overpriced for what it is.
Too expensive for the quality.
Price went up right after I bought it, annoying.
Cheap, and it shows.
Would only buy again on sale.
"""),
}
FRAG_QUESTIONS = _lines("""
Does it come with a warranty?
Anyone know if the {item} comes in black?
How do I reset it?
Is there a bigger size?
Will this be restocked?
Can I get a replacement part?
Is the {item} waterproof?
Does anyone know how to clean it?
Is it the same as the older version?
How long does the {item} usually last?
Are refills sold separately?
Can it be shipped to Hawaii?
Is this the newest model?
What is it made of exactly?
""")
FRAG_CLOSERS = {
    "pos": _lines("""
5 stars.
Would buy again.
Recommend!
Thanks!
👍
❤️❤️
10/10
happy customer
Will order again.
Love it.
4 stars.
Great buy.
😊
Highly recommend.
"""),
    "neg": _lines("""
1 star.
Not buying again.
Meh.
2/5.
Avoid.
Returning it.
Disappointed.
👎
Would not recommend.
Lesson learned.
Save your money.
Sigh.
"""),
    "mix": _lines("""
3 stars.
It's ok.
Will update if anything changes.
Mixed feelings overall.
Fine for now.
3/5
"""),
}
FRAG_SPAM_LOOKALIKE = {
    "any": _lines("""
Messaged the seller in the app chat about it.
Paid ${price} with the store coupon.
Size {size} fits as the chart says.
The seller's store page has the matching accessories.
Tracking in the app was spot on.
Model no. {model} for anyone checking compatibility.
Got it for ${price} in the flash sale.
Check the seller's other listings if you want more colours.
Contact the seller in chat if you need a different plug, they'll swap it.
Link to the manual is in the listing description, handy.
It was ${price} when I bought it, now it's more.
Used the size guide in the listing photos.
The {brand} logo is on the box, looks legit.
Followed the setup steps in the manual.
Asked in the chat before ordering, fast reply.
There was a 10% off card for my next order in the box.
Ordered through the app's live sale, got free shipping.
Store page says restock next week for the other colours.
Check the measurements in the listing before you buy.
Bought it during the 2-for-1 promo.
"""),
    "pos": _lines("""
Compared to my old {brand} one, this is better.
Cheaper than the {brand} version and just as good.
I've recommended it to a few friends already.
Same quality as {brand}, a third of the price.
"""),
    "neg": _lines("""
My old {brand} one was much better.
Should have paid more for the {brand} one.
"""),
}
FRAG_ABUSE_LOOKALIKE = {
    "pos": _lines("""
Killer deal at this price.
The colours are sick.
This {item} slaps.
Damn, this {item} is good.
Insanely good for the price.
Beast of a {item}.
This thing is fire 🔥
Bloody brilliant.
Hell yeah, it works.
Dead serious, best purchase this month.
The {item} is wicked good.
Freaking love it.
"""),
    "neg": _lines("""
Honestly the worst {item} I've owned.
Total waste of money.
I'm furious about the delay, but the item itself is fine.
Absolute junk, it broke in days.
Terrible, terrible quality.
What a crappy {item}.
It's a disaster, falls apart.
I'm so annoyed I wasted money on this.
Garbage, straight to the bin.
It's a nightmare to assemble.
"""),
}
FRAG_SPAM_PRAISE = _lines("""
Nice product!
good item
Great seller 👍
Love it!
5 stars
Fast delivery, thanks.
Nice.
Good quality.
Received, thank you.
👍👍
Beautiful.
Works fine.
Ok good
Thanks seller.
""")
FRAG_SPAM_HOOKS = {  # {link}: a URL; {contact}: a handle or number; {shop}: a shop name
    "spam.1": _lines("""
Get the same thing 60% cheaper at {link}
Better prices on my site {link}
Buy direct from me, no platform fees: {contact}
Message me for wholesale: {contact}
Free gift card for the first 100 people → {link}
Same item, half price, {contact}
Restocks posted first on {contact}
skip the fees and order on {link}
"""),
    "spam.2": _lines("""
Want to earn ${amount} a day from home? {contact}
I made ${amount} this week trading crypto, ask me how {contact}
Double your money in {days} days guaranteed, {contact}
Part time job, ${amount}/day, no experience, {contact}
Passive income opportunity, join my team {contact}
Our trading signals won {days} days in a row, join {contact}
"""),
    "spam.3": _lines("""
Follow my shop {shop} for more!
Check out my store {shop}, same stuff cheaper
Visit {shop} for new arrivals every week
f4f? follow {shop} and I follow back
Please support my small shop {shop} 🙏
"""),
}
FRAG_SPAM_CTA = ["DM now!", "limited slots", "hurry 🔥", "don't miss out", "serious people only",
                 "first come first served", "💰💰", "act fast", "", "", ""]
FRAG_HANDLE_WORDS = ["deal", "cash", "promo", "loot", "king", "boss", "plug", "vip", "easy", "max", "fast", "rich", "lux",
                     "flip", "crypto", "hustle", "trade", "free", "mega", "smart"]
FRAG_SHOP_NAMES = ["TrendyTechHub", "GlowUpBeauty", "KicksVault", "HomeHaven88", "PetPalaceCo", "GadgetGalaxy",
                   "StyleStreetUS", "BargainBarn", "LuxeLane", "MegaMartDeals", "CozyCornerCo", "UrbanThreadz"]
FRAG_ABUSE_LINES = {
    "abuse.1": _lines("""
The seller is a useless clown.
Whoever runs this shop is an idiot.
You're a moron, seller.
Seller is too dumb to run a shop.
What a bunch of clowns.
Total nincompoop seller.
Brainless seller, brainless shop.
Idiots, all of you.
"""),
    "abuse.2": _lines("""
Do everyone a favour and close this shop, loser.
Nobody wants you selling here.
I'll be leaving this on every listing you have until you quit.
Go crawl back under your rock.
pathetic little seller, get a life.
"""),
    "abuse.3": _lines("""
Fix this or I'll come find you, not joking.
You'd better hope I never find your address.
Keep it up and you'll regret it, I know where your shop is.
I'll make you pay for this, in person.
"""),
    "abuse.4": _lines("""
Screw you and your shop.
F*** this seller.
Go to hell, seller.
Piss off with your excuses.
To hell with you people.
"""),
}
FRAG_EMOJI = ["😊", "👍", "🙂", "😅", "🙄", "😤", "💯", "✨", "😂", "🤷", "❤️", "😬"]

# =====================================================================================================
# Held-out policy cases, hand-written separately: none of the texts or fragments above appear here.
# "clause:cc|text" (clause optional) for look-alikes; per-clause dicts for violating cases.
# =====================================================================================================
HELDOUT_SPAM = {
    "spam.1": _lines("""
Same one is $4 on my website lol → gizmo-bargains.store
pls message me on whatsapp 1-305-555-0117 i sell these way cheaper no tax
good seller. for wholesale find me on telegram: @bulkbuy_mike
Visit our outlet at myoutlet-deals dot com for clearance prices on everything
insta @thrift.queen.la has this exact jacket for half, go look
Claim your free Amazon voucher here: free-voucher-claim.win
Don't buy here, buy from me direct, email cheapgoods2020 at yahoo dot com
snapchat: phoneplug_99 all phones unlocked cheap
Join my discord for restock alerts and secret deals discord.gg/restockz
scan the QR in my profile for a mystery gift from our partner site 🎁
"""),
    "spam.2": _lines("""
I'm making $700 every week from my couch. Ask me how, serious inquiries only 💵
Earn 20% per week with our AI trading platform, zero risk. DM for invite.
Who wants to double their bitcoin? Our pool pays out every 24 hours
need extra money? online task job, $25-$80 per task, message me for the link
Became a millionaire at 24 with this one crypto coin, ask me which 🚀
Get $75 free when you sign up for this cashback app with my code MONEY75
Hiring!!! Work 2 hrs/day, earn $1500 weekly. No interview. Text me.
Our wellness team is recruiting, be your own boss and earn from home, DM me 'YES'
Sports betting tips 99% accurate, join VIP for $20
send me $100 in gift cards and I'll send back $1000 in 1 hr, proof in my bio
"""),
    "spam.3": _lines("""
Hey shoppers! Follow our shop Bella Boutique for daily new arrivals 🌸
Need a plumber in Dallas? Call Mike's Plumbing, same day service
Please check out my listings, I'm selling vintage records at great prices
Follow me and I'll follow you back, let's grow our shops together 🙌
Dog walking services in Brooklyn, $15 per walk, contact me
Our bakery does custom birthday cakes, order 3 days ahead!
I also sell this, but better, in my store, search 'TopTierTech'
Attention homeowners: solar panels with zero upfront cost. Book a consult.
new shop here!! please visit and like my products 🥺💕
Selling my PS4 with 3 games, local pickup, message me
"""),
    "spam.4": _lines("""
sale sale sale sale sale sale lowest lowest lowest
watches bags shoes perfume watches bags shoes perfume best price
promo!!!promo!!!promo!!!promo!!!
free free free click click win win
jfkdls deal jfkdls deal jfkdls deal
🤑🤑🤑 MONEY 🤑🤑🤑 MONEY 🤑🤑🤑 MONEY
bargain phone bargain tablet bargain laptop bargain tv
DEAL OF THE DAY DEAL OF THE DAY DEAL OF THE DAY
buy instagram followers youtube views tiktok likes real fast
best best best offer offer offer now now now
"""),
}
HELDOUT_ABUSE = {
    "abuse.1": _lines("""
This seller is a total moron, sent the wrong size three times
whoever wrote this description is dumb as bricks
Hey numbskull, read my message before replying
The guy running this shop is a clueless dork
To the reviewer saying it's great: you must be an idiot
Dopey seller can't tell red from green
seller is an incompetent buffoon
What kind of fool sells a phone case that doesn't fit the phone? This one.
the rep I talked to is a complete tool
you absolute donkey, I said size 9
"""),
    "abuse.2": _lines("""
Close your store, you're a failure at everything
I'm going to comment on every review you reply to until you delete your account
Everyone look how pathetic this seller is 🤣
You look like you haven't showered in a month, just like your shop looks
Do everyone a favour and quit selling forever, nobody wants your junk or you
Sad little man hiding behind a shop name
buyer above needs to get a life and stop crying about every order
you're a disgrace and your kids should be embarrassed of you
"""),
    "abuse.3": _lines("""
I'll be at your shop tomorrow and you won't like how that goes
Give me a refund or I'll make your life hell, I know where you live
Watch yourself, seller. I don't forget.
If I see the delivery driver again I'm slashing his tires
hope your warehouse floods and you lose everything
refund me or I'll share your personal address online
Keep lying and I'll come over and teach you a lesson
You're lucky I don't know where your store is. Yet.
"""),
    "abuse.4": _lines("""
f*ck you seller, my parcel never arrived
Screw you and your refund policy
Go to hell with your fake discounts
seller you're full of sh*t
piss off with the canned responses
up yours, buddy, I'm done with this shop
To the other buyer: shut the hell up
you greedy a-hole, $20 for shipping a sock??
kiss my a** seller
"""),
}
HELDOUT_BOTH = _lines("""
spam.1,abuse.1|Ignore this clown seller, DM me on IG @cheapkicks.nyc for real pairs
spam.2,abuse.1|Only an idiot buys this. I make $600/week online, message me to learn how
spam.3,abuse.4|go to hell seller, follow my shop for better quality 👍
spam.1,abuse.1|Pathetic dumb shop. Best prices at gadgetzone-direct.com
spam.4,abuse.1|seller is a moron moron moron cheap deals cheap deals cheap deals
spam.2,abuse.3|I know where you live, seller. Anyway, earn 5% daily with my crypto group @moonwhales
""")
HELDOUT_ORDINARY = _lines("""
el|Earphones stay in during runs, sound is clear and the case charges fast
el|Charging cable frayed near the plug after two months.
el|Arrived DOA, wouldn't turn on at all. Return requested.
el|Can this router handle a 3 story house? Asking before I order
el|The remote lost its pairing every morning, ended up returning it
el|pretty decent for a budget tablet, my kid uses it for cartoons
el|Screen is vibrant and the bezel is thin. Stand is wobbly though.
fa|The linen shirt wrinkles a lot but it's so breathable in summer
fa|Boots are waterproof, walked through slush and dry socks!
fa|Seams started unraveling on the sleeve after one wear
fa|My daughter loves the sparkly skirt, wears it everywhere
fa|Is the pink one more pastel or hot pink?
fa|Waist is perfect but the legs are super long, had to hem them
ho|Frying pan warped after a month on a gas stove
ho|Bedside lamp has three brightness levels, the lowest is nice for reading
ho|The duvet is fluffy and warm without being heavy
ho|Toilet brush holder cracked during delivery
ho|Coffee maker drips on the counter every time I pour
ho|How many watts is the microwave?
ho|Nice glasses, but one had a tiny bubble in the glass
be|Cleanser doesn't strip my skin, feels fresh after
be|The eyeshadow palette has amazing pigment but lots of fallout
be|Conditioner made my hair greasy by the next day
be|Can men use this moisturizer too? Asking for my boyfriend
be|Hair clips broke in the first week, the springs are weak
to|Building blocks kept my twins busy for hours on a rainy day
to|The stuffed bunny's eye came loose, not safe for my baby
to|Train set track pieces don't connect properly
to|Is the play dough non-toxic? My son eats everything
to|Cute bath book, dries quickly and hasn't gotten moldy
sp|Jump rope is smooth and the handles are comfy
sp|Sleeping pad lost air overnight both nights of our trip
sp|The cycling shorts padding is thick, saved my butt on a 50 mile ride
sp|Ab roller is wobbly, doesn't roll straight
sp|Would this tent fit 2 adults and a dog?
pe|Cat litter box is huge, my Maine Coon finally fits
pe|Dog shampoo left his coat shiny and smelling good
pe|The bird cage door latch is loose, my parakeet escaped twice
pe|Chew sticks lasted my puppy about 10 minutes each
bo|Journal cover is gorgeous and the paper takes ink well
bo|Markers arrived dried out, only half of them work
bo|Story was slow in the middle but the ending was worth it
bo|Does the planner start in January or is it undated?
gr|Green tea is smooth and not bitter at all
gr|The cookies were stale on arrival
gr|Peanut butter is creamy and not too sweet
gr|Vacuum sealed bag of nuts had a hole, they went soft
au|Seat cushion helps my back on long drives
au|Sunshade fits my windshield and folds up small
au|The USB car charger only charges one phone at a time despite two ports
el|Smart plug keeps disconnecting from wifi
fa|Beanie is warm and not itchy at all
ho|Laundry basket handles ripped when I carried a full load
be|Nail polish chips after two days
to|puzzle pieces are thick and sturdy, great for little hands
sp|Swim cap is tight but doesn't pull hair
pe|Cat toy wand broke off at the string after a day
gr|Spice set labels fell off, had to guess which was cumin
ho|Ironing board cover is too small for my board
el|Game controller's left stick drifts after 3 weeks
""")
HELDOUT_SPAM_LOOKALIKE = _lines("""
spam.3:el|Was $49, grabbed it for $31 during the weekend sale. Great price.
spam.3:fa|Used the seller's size chart: 42 EU = US 9, fits exactly.
spam.3:el|If you need the USB-C version, it's listed in this seller's shop too.
spam.1:ho|Asked the seller in the in-app chat about the wattage and they replied in minutes.
spam.3:be|Cheaper than Sephora and same batch code on the bottom.
spam.3:el|Compatible with Samsung S23, model SM-S911, I checked.
spam.3:fa|The seller's store has the matching belt, I bought both.
spam.1:to|Found the instructions PDF via the link in the listing, helped a lot.
spam.3:sp|Recommended it to my whole cycling club, they all ordered one.
spam.3:el|Bought it with the 15% coupon from the app, paid $22.
spam.1:ho|Contact the seller via chat if yours arrives with a dent, they replaced mine.
spam.3:pe|Better than the Kong one and cheaper.
spam.3:gr|Follow the recipe on the back of the pack, it's delicious.
spam.1:el|Warranty registration QR code goes to the brand's official page, worked fine.
spam.3:fa|Size 6 fits my 6 year old perfectly, a bit of room to grow.
spam.2:be|I do makeup for weddings and this foundation holds up 12 hours on clients.
spam.2:bo|I teach 3rd grade and bought a class set of these notebooks, great value.
spam.2:el|Got paid on Friday and bought this on Saturday, zero regrets lol
spam.2:ho|Invested in the bigger size, best money I spent this year.
spam.2:sp|Won my first race in these shoes!! 🏆
spam.2:to|The crypto-themed board game was a hit at our party, surprisingly fun.
spam.3:el|Free shipping and a free screen protector, thanks seller
spam.3:fa|Flash sale price was unbeatable, got 3 for $20.
spam.3:ho|Seller's shop page lists the replacement filters, ordered 4.
spam.1:el|Tracking showed every step in the app, arrived in 3 days.
spam.3:be|Telling all my friends about this sunscreen, it's that good.
spam.3:gr|Subscribed through the app for monthly delivery, beans are always fresh.
spam.1:el|The brand's official site has a firmware update that fixes the lag.
spam.3:pe|My groomer uses this exact brush, so I bought one too.
spam.1:fa|Message the seller before ordering if you want a gift wrap, they do it free.
spam.3:el|Item number on the box is BT-550, matches the listing.
spam.3:ho|Dimensions 40 x 30 x 25 cm, fits under my bed.
spam.3:sp|Price drop to $18 this week, bought a second one for my brother.
spam.1:to|Shared the listing with my sister and she ordered one for her kids.
spam.3:el|Works better than my old Logitech, and half the price.
spam.3:be|Got a free mini lipstick in the box, nice surprise 💄
spam.1:bo|The QR code at the end of the book leads to the author's bonus chapter, cool extra.
spam.4:fa|5 stars 5 stars 5 stars! buy it, you won't regret it
spam.2:el|Made my money back on this power bank in a month of not buying airport chargers lol
spam.3:ho|Check the measurements in the photos before ordering, they're accurate.
spam.1:au|Fits my 2018 Honda CR-V, seller confirmed in chat.
spam.3:gr|Bought 6 bags during the 2-for-1 promotion, stocked up.
spam.1:pe|The instagram pictures of the cat bed on the listing are accurate, it's that cute.
spam.3:el|Seller included a card with their shop name, nice packaging.
spam.3:sp|Dropped $10 in price since I bought it, still worth it.
""")
HELDOUT_ABUSE_LOOKALIKE = _lines("""
abuse.1:ho|Total rubbish, broke the first time I used it. Returning.
abuse.1:el|Worst headphones I've ever bought. Crackling on both sides.
abuse.3:fa|Killer boots, got compliments all day
abuse.1:fa|Those colours are sick, love the purple
abuse.1:el|This keyboard slaps, the clack is so satisfying
abuse.3:sp|These bands are killing my glutes in the best way
abuse.3:gr|This hot sauce is deadly, in a good way 🔥
abuse.1:ho|Garbage product, garbage packaging. Don't waste your money.
abuse.1:el|Seller's listing is inaccurate, says 5000mAh but it's clearly less. Very disappointed.
abuse.2:to|My toddler went nuts over it, absolute madness
abuse.1:be|Smells insane, like in a really good way
abuse.1:el|I'm furious, I paid for express and it took 2 weeks. Item is fine though.
abuse.4:ho|Damn good vacuum for the price
abuse.1:fa|This dress is fire, I look like a million bucks
abuse.4:el|Crappy battery, dies in an hour
abuse.1:sp|Beast of a bike light, blinds everyone lol
abuse.3:pe|My cat attacked the box harder than the toy, savage little guy
abuse.1:el|The instructions are so dumb, they skip the pairing step entirely
abuse.4:ho|Hell of a good deal
abuse.1:fa|I'm an idiot and ordered the wrong size, my fault, exchange was easy
abuse.1:el|To the seller: please update your description, it's misleading. Will change my review if fixed.
abuse.2:to|This toy is a menace, my kid won't stop playing the siren sound 😂
abuse.4:gr|Bloody delicious, the whole tin was gone in a day
abuse.3:bo|This book wrecked me emotionally, 10/10
abuse.3:sp|Absolutely murdered my leg workout with this kettlebell
abuse.3:el|If it breaks again I'll report the listing to customer support.
abuse.1:fa|Ugly stitching, crooked seams, really poor quality for $40.
abuse.1:ho|The lid design is infuriating, never closes properly
abuse.4:au|Crap suction, returning it
abuse.4:el|No cap, this is the best mouse I've had
abuse.1:pe|Seller was rude in chat and refused an exchange. 1 star.
abuse.4:fa|These sneakers are wicked comfortable
abuse.3:ho|I'd fight someone for the last one in stock lol
abuse.1:sp|@reviewer above, yours might be defective, mine is fine, contact the seller for a swap
abuse.4:be|Freaking love this palette
""")

# =====================================================================================================
# The generator
# =====================================================================================================
PROVENANCE_SOURCE = "moddistill authors' hand labels"
_PRICE = re.compile(r"\$(\d{1,4}(?:\.\d\d)?)(?!\d)")
_SPLIT = re.compile(r"^(.+?[.!?]+)\s+(\S.*)$", re.S)


def _parse_tagged(text: str) -> tuple[str | None, str | None, str]:
    """'clause:cc|text' / 'cc|text' / 'text' -> (clause, category code, text)."""
    clause = cat = None
    head, sep, rest = text.partition("|")
    if sep and len(head) <= 12 and " " not in head:
        text = rest
        if ":" in head:
            clause, _, head = head.partition(":")
        if head in CATEGORIES:
            cat = head
        elif "," in head or head in SPAM_CLAUSES or head in ABUSE_CLAUSES:
            clause = head
    return clause, cat, text.strip()


def _key(text: str) -> str:
    return " ".join(normalize_tokens(text))


class Builder:
    def __init__(self, seed: str):
        self.rng = random.Random(seed)

    def category(self) -> str:
        codes = sorted(CATEGORY_WEIGHTS)
        return self.rng.choices(codes, weights=[CATEGORY_WEIGHTS[c] for c in codes])[0]

    def price(self, cat: str, text: str) -> float:
        m = _PRICE.search(text)
        if m and 1 <= float(m.group(1)) <= 2000:
            return float(m.group(1))
        lo, hi = CATEGORIES[cat][1]
        whole = self.rng.randint(lo, hi)
        return round(whole + self.rng.choice([0.0, 0.49, 0.95, 0.99, 0.99, 0.5]), 2)

    def listing(self, text: str, cat: str | None) -> dict:
        cat = cat or self.category()
        m = _SPLIT.match(text)
        title, description = (m.group(1), m.group(2)) if m else (text, "")
        return {"title": title.strip(), "description": description.strip(), "category": CATEGORIES[cat][0],
                "price": self.price(cat, text), "currency": "USD", "market": "US", "language": "en"}

    # --- fills and noise --------------------------------------------------------------------------
    def fill(self, frag: str, cat: str) -> str:
        _, _, items, brands, sizes = CATEGORIES[cat]
        item = self.rng.choice(items)
        lo, hi = CATEGORIES[cat][1]
        out = frag.replace("{item}", item).replace("{Item}", item[0].upper() + item[1:])
        out = out.replace("{brand}", self.rng.choice(brands)).replace("{size}", self.rng.choice(sizes))
        out = out.replace("{price}", f"{self.rng.randint(lo, hi)}.99" if self.rng.random() < 0.6 else str(self.rng.randint(lo, hi)))
        out = out.replace("{model}", f"{self.rng.choice('ABKMTX')}{self.rng.choice('0123456789')}-{self.rng.randint(100, 999)}")
        return out

    def handle(self) -> str:
        words = self.rng.sample(FRAG_HANDLE_WORDS, 2)
        sep = self.rng.choice(["", "_", ".", ""])
        tail = str(self.rng.randint(1, 999)) if self.rng.random() < 0.6 else ""
        return f"{words[0]}{sep}{words[1]}{tail}"

    def contact(self) -> str:
        h = self.handle()
        phone = f"{self.rng.randint(201, 989)} 555 {self.rng.randint(100, 199):04d}"
        return self.rng.choice([
            f"telegram @{h}", f"t.me/{h}", f"tg: {h}", f"whatsapp +1 {phone}", f"WA +1 {phone.replace(' ', '-')}",
            f"IG @{h}", f"snap {h}", f"{h} (at) gmail (dot) com", f"text me {phone.replace(' ', '')}",
            f"w h a t s a p p +1 {phone}",
        ])

    def link(self) -> str:
        h = self.handle().replace("_", "-").replace(".", "-")
        code = "".join(self.rng.choice("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))
        return self.rng.choice([f"www.{h}.com", f"{h}.shop", f"bit.ly/{code}", f"{h}-outlet.net", f"tinyurl.com/{code}",
                                f"{h} dot store", f"https://{h}.xyz/sale"])

    def roughen(self, text: str) -> str:
        rng = self.rng
        if rng.random() < 0.18:
            words = text.split(" ")
            idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
            if idx:
                i = rng.choice(idx)
                w = words[i]
                j = rng.randint(1, len(w) - 3)
                words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
                text = " ".join(words)
        if rng.random() < 0.12:
            text = re.sub(r"\byou\b", "u", text)
            text = re.sub(r"\byour\b", "ur", text)
            text = text.replace("thanks", "thx").replace("Thanks", "Thx")
        if rng.random() < 0.10:
            words = text.split(" ")
            idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
            if idx:
                i = rng.choice(idx)
                words[i] = words[i].upper()
                text = " ".join(words)
        if rng.random() < 0.16:
            text = text.lower()
        if rng.random() < 0.25:
            text = re.sub(r"\.$", "", text)
        if rng.random() < 0.08 and re.search(r"[\w.]$", text):
            text = re.sub(r"\.?$", "!!", text, count=1)
        if rng.random() < 0.15:
            text = f"{text} {rng.choice(FRAG_EMOJI)}"
        return text

    # --- composites -------------------------------------------------------------------------------
    def join(self, parts: list[str]) -> str:
        """Join sentences the way people type them: mostly full stops, sometimes commas or dashes."""
        out = parts[0]
        for part in parts[1:]:
            if out.endswith(("ok so", "Alright so")):
                part = part[0].lower() + part[1:] if part[:2] != "I " and part[:2] != "I'" else part
            elif out[-1].isalnum() or out[-1] in ")'":
                glue = self.rng.choice([".", ".", ".", ",", " -", ""])
                out += glue
                if glue in (",", " -"):
                    part = part[0].lower() + part[1:] if part[:2] != "I " and part[:2] != "I'" else part
            elif out.endswith(","):
                part = part[0].lower() + part[1:] if part[:2] != "I " and part[:2] != "I'" else part
            out += " " + part
        return out

    def genuine(self, extra: dict[str, list[str]] | None = None) -> tuple[str, str]:
        rng = self.rng
        cat = self.category()
        mood = rng.choices(["pos", "neg", "mix"], weights=[5, 3, 2])[0]
        aspects = [FRAG_QUALITY, FRAG_SHIPPING, FRAG_PACKAGING, FRAG_SERVICE, FRAG_VALUE]
        picked = [FRAG_QUALITY] + rng.sample(aspects[1:], rng.choice([0, 1, 1, 2]))
        parts = []
        if rng.random() < 0.35:
            parts.append(rng.choice(FRAG_OPENERS))
        for i, group in enumerate(picked):
            polarity = mood if mood != "mix" else ("pos" if i % 2 == 0 else "neg")
            parts.append(self.fill(rng.choice(group[polarity]), cat))
        if extra:
            moods = [mood] if mood != "mix" else ["pos", "neg"]
            choices = extra.get("any", []) + [f for m in moods for f in extra.get(m, [])]
            parts.insert(rng.randint(1 if len(parts) > 1 else 0, len(parts)), self.fill(rng.choice(choices), cat))
        if rng.random() < 0.18:
            parts.append(self.fill(rng.choice(FRAG_QUESTIONS), cat))
        if rng.random() < 0.45:
            parts.append(rng.choice(FRAG_CLOSERS[mood]))
        return self.roughen(self.join(parts)), cat

    def spam_lookalike(self) -> tuple[str, str]:
        return self.genuine(extra=FRAG_SPAM_LOOKALIKE)

    def abuse_lookalike(self) -> tuple[str, str]:
        return self.genuine(extra={"any": [], **FRAG_ABUSE_LOOKALIKE})

    def spam_hook(self, clause: str) -> str:
        rng = self.rng
        hook = rng.choice(FRAG_SPAM_HOOKS[clause])
        hook = hook.replace("{link}", self.link()).replace("{contact}", self.contact())
        hook = hook.replace("{shop}", rng.choice(FRAG_SHOP_NAMES)).replace("{amount}", str(rng.choice([150, 200, 300, 450, 500, 800, 1000])))
        hook = hook.replace("{days}", str(rng.choice([3, 5, 7, 10, 14])))
        cta = rng.choice(FRAG_SPAM_CTA)
        return f"{hook} {cta}".strip()

    def spam(self) -> tuple[str, str]:
        clause = self.rng.choice(["spam.1", "spam.1", "spam.2", "spam.3"])
        parts = [self.rng.choice(FRAG_SPAM_PRAISE)] if self.rng.random() < 0.7 else []
        parts.append(self.spam_hook(clause))
        return self.roughen(" ".join(parts)), clause

    def abuse(self) -> tuple[str, str, str]:
        rng = self.rng
        cat = self.category()
        clause = rng.choice(ABUSE_CLAUSES)
        group = rng.choice([FRAG_QUALITY, FRAG_SHIPPING, FRAG_SERVICE, FRAG_PACKAGING])
        parts = [self.fill(rng.choice(group["neg"]), cat), rng.choice(FRAG_ABUSE_LINES[clause])]
        if rng.random() < 0.3:
            parts.reverse()
        return self.roughen(self.join(parts)), cat, clause

    def both(self) -> tuple[str, str, str]:
        rng = self.rng
        abuse_clause = rng.choice(["abuse.1", "abuse.1", "abuse.4"])
        spam_clause = rng.choice(["spam.1", "spam.2", "spam.3"])
        text = f"{rng.choice(FRAG_ABUSE_LINES[abuse_clause])} {self.spam_hook(spam_clause)}"
        return self.roughen(text), spam_clause, abuse_clause


def hand_items() -> list[dict]:
    """Every hand-written training text with its labels: {text, cat, spam, abuse, kind}."""
    items = []
    for cat in sorted(TRAIN_GENUINE):
        items += [{"text": t, "cat": cat, "spam": None, "abuse": None, "kind": "genuine"} for t in TRAIN_GENUINE[cat]]
    for raw in TRAIN_SPAM_LOOKALIKE:
        _, cat, text = _parse_tagged(raw)
        items.append({"text": text, "cat": cat, "spam": None, "abuse": None, "kind": "spam_lookalike"})
    for raw in TRAIN_ABUSE_LOOKALIKE:
        _, cat, text = _parse_tagged(raw)
        items.append({"text": text, "cat": cat, "spam": None, "abuse": None, "kind": "abuse_lookalike"})
    for clause in SPAM_CLAUSES:
        items += [{"text": t, "cat": None, "spam": clause, "abuse": None, "kind": "spam"} for t in TRAIN_SPAM[clause]]
    for clause in ABUSE_CLAUSES:
        items += [{"text": t, "cat": None, "spam": None, "abuse": clause, "kind": "abuse"} for t in TRAIN_ABUSE[clause]]
    for raw in TRAIN_BOTH:
        clauses, _, text = raw.partition("|")
        s, a = clauses.split(",")
        items.append({"text": text.strip(), "cat": None, "spam": s, "abuse": a, "kind": "both"})
    return items


def heldout_items() -> list[dict]:
    items = []
    for clause in SPAM_CLAUSES:
        items += [{"text": t, "cat": None, "spam": clause, "abuse": None, "kind": "spam", "clause": clause}
                  for t in HELDOUT_SPAM[clause]]
    for clause in ABUSE_CLAUSES:
        items += [{"text": t, "cat": None, "spam": None, "abuse": clause, "kind": "abuse", "clause": clause}
                  for t in HELDOUT_ABUSE[clause]]
    for raw in HELDOUT_BOTH:
        clauses, _, text = raw.partition("|")
        s, a = clauses.split(",")
        items.append({"text": text.strip(), "cat": None, "spam": s, "abuse": a, "kind": "both", "clause": s})
    for kind, block in (("ordinary", HELDOUT_ORDINARY), ("spam_lookalike", HELDOUT_SPAM_LOOKALIKE),
                        ("abuse_lookalike", HELDOUT_ABUSE_LOOKALIKE)):
        for raw in block:
            clause, cat, text = _parse_tagged(raw)
            items.append({"text": text, "cat": cat, "spam": None, "abuse": None, "kind": kind, "clause": clause})
    return items


# What each set holds. Hand-written kinds listed in "hand" are all used (spam in review_abuse_v1: a
# seeded subset); "generated" is the number of composites of each kind; the rest of the size is filled
# with generated genuine reviews.
SETS = {
    "review_spam_v1": {
        "dir": "review_spam", "policies": ("spam",), "size": 900, "id_prefix": "rs",
        "hand": {"genuine": None, "spam_lookalike": None, "abuse_lookalike": None, "spam": None, "abuse": None, "both": None},
        "generated": {"spam": 8, "spam_lookalike": 90},
        "cases": {"spam": 40, "both": 6, "ordinary": 50, "spam_lookalike": 45, "abuse_lookalike": 10, "abuse": 9},
    },
    "review_abuse_v1": {
        "dir": "review_abuse", "policies": ("spam", "abuse"), "size": 1000, "id_prefix": "ra",
        "hand": {"genuine": None, "spam_lookalike": None, "abuse_lookalike": None, "spam": 90, "abuse": None, "both": None},
        "generated": {"spam": 6, "abuse": 12, "both": 8, "spam_lookalike": 60, "abuse_lookalike": 70},
        "cases": {"spam": 24, "abuse": 35, "both": 6, "ordinary": 50, "spam_lookalike": 30, "abuse_lookalike": 35},
    },
}


def rationale(row: dict, policies: tuple[str, ...]) -> str:
    parts = [RATIONALE[row[p]] for p in policies if row.get(p)]
    if parts:
        return " ".join(parts)
    if row["kind"] == "spam_lookalike":
        return "Genuine review; prices, brands, sizes, in-app chat and the shop's own pages are allowed."
    if row["kind"] == "abuse_lookalike":
        return ("Harsh or slangy but aimed at the product or the service, not at a person; allowed."
                if "abuse" in policies else "Genuine review, nothing promotional.")
    if row["kind"] == "abuse" and "abuse" not in policies:
        return "Rude, but promotes nothing; not spam."
    return "Genuine review or question about the item; allowed."


def build_cases(name: str, spec: dict) -> list[dict]:
    rng = random.Random(f"{name}/cases")
    pool = heldout_items()
    rows = []
    for kind in ("spam", "abuse", "both", "spam_lookalike", "abuse_lookalike", "ordinary"):
        want = spec["cases"].get(kind, 0)
        of_kind = [it for it in pool if it["kind"] == kind]
        if want < len(of_kind):
            keep = set(rng.sample(range(len(of_kind)), want))
            of_kind = [it for i, it in enumerate(of_kind) if i in keep]
        rows += of_kind
    out = []
    builder = Builder(f"{name}/cases/listing")
    for i, it in enumerate(rows, start=1):
        expected = [p for p in spec["policies"] if it.get(p)]
        clause = it["clause"]
        if clause is not None and clause.split(".")[0] not in spec["policies"]:
            clause = None  # e.g. an abuse case in the spam-only suite resembles no clause of that policy
        if not expected and it["kind"] == "abuse_lookalike" and "abuse" not in spec["policies"]:
            clause = None
        tags = []
        if it["kind"].endswith("lookalike") and clause is not None:
            tags.append("lookalike")
        if len(expected) > 1:
            tags.append("multi_policy")
        case = {"id": f"{spec['id_prefix']}-pc-{i:04d}", **builder.listing(it["text"], it["cat"]),
                "expected": expected, "clause": clause, "kind": "mft", "variant_of": None, "direction": None,
                "tags": tags}
        out.append(case)
    return out


def build_set(name: str, spec: dict, cases: list[dict]) -> tuple[list[dict], list[dict], dict]:
    b = Builder(name)
    policies = spec["policies"]
    rows: list[dict] = []
    seen: set[str] = set()
    stats = Counter()

    def add(row: dict) -> bool:
        k = _key(row["text"])
        if not k or k in seen:
            stats["dropped_exact_duplicate"] += 1
            return False
        seen.add(k)
        rows.append(row)
        return True

    for kind, want in spec["hand"].items():
        of_kind = [it for it in hand_items() if it["kind"] == kind]
        if want is not None and want < len(of_kind):
            keep = set(random.Random(f"{name}/{kind}").sample(range(len(of_kind)), want))
            of_kind = [it for i, it in enumerate(of_kind) if i in keep]
        for it in of_kind:
            if add({**it, "source": "hand"}):
                stats[f"hand_{kind}"] += 1

    def generate(kind: str) -> dict:
        if kind == "spam":
            text, clause = b.spam()
            return {"text": text, "cat": None, "spam": clause, "abuse": None, "kind": kind}
        if kind == "abuse":
            text, cat, clause = b.abuse()
            return {"text": text, "cat": cat, "spam": None, "abuse": clause, "kind": kind}
        if kind == "both":
            text, s, a = b.both()
            return {"text": text, "cat": None, "spam": s, "abuse": a, "kind": kind}
        text, cat = {"genuine": b.genuine, "spam_lookalike": b.spam_lookalike, "abuse_lookalike": b.abuse_lookalike}[kind]()
        return {"text": text, "cat": cat, "spam": None, "abuse": None, "kind": kind}

    plan = dict(spec["generated"])
    plan["genuine"] = spec["size"] - len(rows) - sum(plan.values())
    for kind, want in plan.items():
        made, tries = 0, 0
        while made < want and tries < want * 50:
            tries += 1
            if add({**generate(kind), "source": "generated"}):
                made += 1
        stats[f"generated_{kind}"] += made

    # leakage guard, as in training: no row may exactly or nearly duplicate a policy case
    case_texts = [f"{c['title']} {c['description']}" for c in cases]
    listings_ = [b.listing(r["text"], r["cat"]) for r in rows]
    texts = [f"{x['title']} {x['description']}" for x in listings_]
    case_keys = {_key(t) for t in case_texts}
    leak = {i for i, t in enumerate(texts) if _key(t) in case_keys}
    leak |= {i for i, _, _ in near_duplicate_pairs(texts, case_texts, threshold=0.8)}
    stats["dropped_leakage"] = len(leak)
    pairs = [(r, x) for i, (r, x) in enumerate(zip(rows, listings_)) if i not in leak]
    random.Random(f"{name}/order").shuffle(pairs)

    listings, labels = [], []
    version = name.replace("_v1", "-v1")
    for i, (r, x) in enumerate(pairs, start=1):
        rid = f"{spec['id_prefix']}-{i:05d}"
        listings.append({"id": rid, **x})
        labels.append({"id": rid, "labels": {p: int(bool(r.get(p))) for p in policies}, "rationale": rationale(r, policies),
                       "provenance": {"backend": "reference", "source": PROVENANCE_SOURCE, "version": version}})
    n = len(listings)
    stats_out = {
        "rows": n,
        "hand_written_rows": sum(1 for r, _ in pairs if r["source"] == "hand"),
        "generated_rows": sum(1 for r, _ in pairs if r["source"] == "generated"),
        "positives": {p: sum(1 for r, _ in pairs if r.get(p)) for p in policies},
        "positive_rate": {p: round(sum(1 for r, _ in pairs if r.get(p)) / n, 4) for p in policies},
        "violating_all": sum(1 for r, _ in pairs if all(r.get(p) for p in policies)) if len(policies) > 1 else None,
        "by_kind": dict(sorted(Counter(f"{r['source']}:{r['kind']}" for r, _ in pairs).items())),
        "by_clause": dict(sorted(Counter(r[p] for r, _ in pairs for p in policies if r.get(p)).items())),
        "dropped_exact_duplicate": stats["dropped_exact_duplicate"],
        "dropped_leakage": stats["dropped_leakage"],
        "largest_near_duplicate_group": max(Counter(duplicate_groups(texts, threshold=0.5)).values()),
        "policy_cases": {
            "rows": len(cases),
            "positives": {p: sum(1 for c in cases if p in c["expected"]) for p in policies},
            "lookalikes": sum(1 for c in cases if "lookalike" in c["tags"]),
        },
    }
    return listings, labels, stats_out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="build in memory and print the figures; write nothing")
    args = ap.parse_args()
    for name, spec in SETS.items():
        cases = build_cases(name, spec)
        listings, labels, stats = build_set(name, spec, cases)
        print(name, json.dumps(stats, ensure_ascii=False))
        if args.check:
            continue
        out = ROOT / "data" / spec["dir"]
        write_jsonl(out / "listings.jsonl", listings)
        write_jsonl(out / "teacher_labels.jsonl", labels)
        (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        write_jsonl(ROOT / "data" / "policy_cases" / f"{name}.jsonl", cases)


if __name__ == "__main__":
    main()

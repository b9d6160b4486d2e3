"""The word lists of the RULER generators (chapter 02), written for the course (public domain).

The reference draws NIAH keys as ``adjective-noun`` pairs and CWE words from the wonderwords
lists; these shorter lists play that part offline: 120 x 120 = 14,400 distinct keys.
"""

ADJECTIVES = tuple("""
able acid angry ancient awake bad basic bent bitter black blue bold brave bright broad broken brown
busy calm careful cheap clean clear clever cold common cool crisp cruel curly damp dark dear deep
dense dirty dry dull eager early easy empty equal even exact fair false fancy fast fat fierce
fine firm flat fluffy fond free fresh friendly full funny gentle giant glad golden good grand great
green grey happy hard harsh heavy high hollow honest hot huge humble hungry icy idle jolly keen kind
large late lazy light little lively long loose loud low loyal lucky mad mellow merry mild modern
narrow neat new nice noble odd old orange pale plain polite poor proud pure purple quick quiet
rapid rare raw red rich ripe rough round royal rude sad safe salty sharp shiny short shy silent
""".split())[:120]

NOUNS = tuple("""
anchor apple arrow attic badge bagel banjo barn basket beach beacon bell bench berry bicycle blanket
boat bottle bowl bridge brook bucket butter button cabin cactus camera candle canoe canyon carpet
castle cello chair cherry chimney circle cliff clock cloud comet compass cookie copper cottage crayon
crown cup curtain daisy desert diamond dolphin door dragon drum eagle engine falcon feather fence
fiddle field flag flute forest fountain garden glacier glove goose guitar hammer harbor helmet
hill honey horizon island jacket jungle kettle kite ladder lagoon lamp lantern lemon lighthouse
lily magnet maple marble meadow mirror mitten moon mountain needle nest ocean orchard owl paddle
palace parrot pebble pencil pepper piano pillow planet pocket pond puzzle quilt rabbit river robin
""".split())[:120]

VERBS = tuple("""
accept admire agree allow answer arrive ask bake balance bathe beg behave believe blink boil borrow
bounce breathe brush build bury calculate carry carve catch change chase cheer chew clap climb
collect comb compare complain cook copy count cover crawl cross cry dance decide deliver describe
dig divide doubt drag draw dream dress drift drop dust earn enjoy enter escape explain fasten fetch
fill find float fold follow forgive gather giggle glow grab greet grin guard guess hang hike hop
hug hum hunt hurry imagine invent iron jog juggle jump kick kneel knit knock laugh launch lean learn
""".split())[:100]

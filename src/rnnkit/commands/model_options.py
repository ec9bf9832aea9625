"""The option every command that reads a MODEL_DIR shares: --no-verify.

A model directory's config.json names the SHA-256 of its weights and
vocabulary, and every load checks them. One that names none (made by hand, or
by a tool other than rnnkit) is refused unless the user asks for it with
--no-verify; a config.json that does name them is checked either way.
"""


def add_arguments(p):
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="accept a model directory whose config.json names no SHA-256 of its files (nothing then "
                        "shows that its weights and vocabulary belong together); named hashes are always checked")

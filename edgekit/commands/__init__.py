"""One module per `edgekit` subcommand; `edgekit.cli` assembles them."""

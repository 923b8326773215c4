from stash_sense.cli import main

main()

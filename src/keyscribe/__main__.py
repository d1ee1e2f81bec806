from keyscribe.cli import main

main()

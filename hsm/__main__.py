from hsm.cli import main

main()

from server.cli.admin import main

main()

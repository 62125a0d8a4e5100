from softhsm_config.cli import main

main()

from cargobay.cli.main import main

main()

from swe_srl.cli import main

main()

from swe_srl.cli import main

if __name__ == "__main__":  # vLLM workers may re-import the main module
    main()

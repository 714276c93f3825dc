from processing_core.cli import main

main()

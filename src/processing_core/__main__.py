from processing_core.console import main

main()

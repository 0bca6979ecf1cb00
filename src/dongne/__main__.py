from dongne.cli import main

main()

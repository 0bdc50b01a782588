"""The member card in Apple Wallet and Google Wallet: building, signing and pushing the cards.

The verbs every part shares (issue a card, mark cards changed, record a card added or removed)
are in loyalty.services.wallet; what a card shows is loyalty.selectors_wallet.wallet_cards.
"""

"""Shells on ptys in lab hosts: their lifetime, screens, shell marks, and the websocket bridge."""

TERMINALS = (1, 2)  # every lab host has two shells: 1, the main one, and 2 beside it

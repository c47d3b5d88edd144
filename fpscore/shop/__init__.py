"""The reference storefront (`fpscore shop`): what a merchant's customers use, over fpscore.merchant."""

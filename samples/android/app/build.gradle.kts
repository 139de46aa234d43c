plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.edgekit.sample"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.edgekit.sample"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    // Bundles are hundreds of MB: keep them out of the APK's compression.
    androidResources {
        noCompress += listOf("litertlm", "task")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = "17"
    }
}

dependencies {
    // LiteRT-LM: the maintained on-device LLM runtime (reads .litertlm).
    implementation("com.google.ai.edge.litertlm:litertlm-android:0.8.0")
    // MediaPipe LlmInference: deprecated upstream, still in many apps (reads .task).
    implementation("com.google.mediapipe:tasks-genai:0.10.27")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
}
